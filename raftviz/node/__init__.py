"""One Raft node: the driver around the core, its storage, and (later) its process."""
