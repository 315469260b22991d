"""The Textual app: widgets and screens over the lab's API, no Raft or network logic."""
