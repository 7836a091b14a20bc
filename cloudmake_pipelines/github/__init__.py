"""GitHub: the REST client shared by the drift PR comment and the secrets sync."""
