"""The storage actor: the repository behind one actor, group commit, error mapping."""
