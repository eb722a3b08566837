// HandshakeTests: under construction.
