"""Authentication and authorization: tokens, principals, password hashing, access checks."""
