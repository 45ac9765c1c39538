"""Helper package for the federated learning privacy course."""
