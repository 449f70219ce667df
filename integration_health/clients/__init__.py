"""HTTP clients of the outside APIs: typed results in, classified errors out."""
