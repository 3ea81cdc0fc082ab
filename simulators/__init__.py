"""Physics models of site devices served over real Modbus TCP and RTU (pty) sockets, with fault injection."""
