"""Jobs: the only layer that combines clients, health and the database."""
