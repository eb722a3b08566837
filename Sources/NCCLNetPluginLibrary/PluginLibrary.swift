// libnccl-net-fabricauth.so: NCCLNetPlugin (the Swift implementation) and
// CNCCLNet (the ncclNetPlugin_v8..v12 tables), linked with the Swift runtime
// inside (see this target's linkerSettings in Package.swift). The package
// links every object of the product's targets, so the tables need no
// reference from here; this module exists to carry the linker flags.
@_exported import NCCLNetPlugin
