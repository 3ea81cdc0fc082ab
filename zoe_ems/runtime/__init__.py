"""Process runtime: task supervision, logging, systemd notification, status socket, the daemon itself."""
