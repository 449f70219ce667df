"""Jobs: the only layer that combines clients, health rules and the database."""
