import CNCCLNet
import FabricAuth
import Foundation
import Synchronization

// The functions the C tables (Sources/CNCCLNet/plugin_v8.c) call, one per
// NCCL entry point; the prototypes are in Sources/CNCCLNet/plugin_entry_points.h.
// Each turns NCCL's raw pointers into the plug-in's objects and every Swift
// error into an NCCL result plus one log line, so nothing is thrown across C.
//
// Object lifetimes: a comm or mhandle handed to NCCL is retained
// (Unmanaged.passRetained) until NCCL closes or deregisters it.

@_cdecl("fabricauth_nccl_init")
func ncclInit() -> Int32 {
    loadRuntime() != nil ? PluginResult.success.rawValue : PluginResult.internalError.rawValue
}

/// Reads the environment and opens the device; nil (logged) when the configuration is unusable.
private func loadRuntime() -> PluginRuntime? {
    let runtime: PluginRuntime
    do {
        runtime = try PluginRuntime(settings: try PluginSettings.parse(ProcessInfo.processInfo.environment))
    } catch {
        PluginRuntime.replaceCurrent(with: nil)
        // Never a fallback to unauthenticated traffic: NCCL sees the failure and does not use this network.
        PluginLog.warn("init failed, plug-in disabled: \(error)")
        return nil
    }
    PluginRuntime.replaceCurrent(with: runtime)
    PluginLog.info("using \(runtime.context.deviceName) port 1, GID index "
        + "\(runtime.settings.gidIndex.map(String.init) ?? "auto (RoCE v2 IPv4)"), listening on \(runtime.listenAddress); "
        + "identity \(runtime.configuration.credential.spiffeID)")
    return runtime
}

/// A v11+ communicator's context (NCCL's `ctx`): the runtime its comms use
/// and the traffic class its config asked for.
final class PluginContext {
    let runtime: PluginRuntime
    let communicator: UInt64
    let trafficClass: Int32

    init(runtime: PluginRuntime, communicator: UInt64, trafficClass: Int32) {
        self.runtime = runtime
        self.communicator = communicator
        self.trafficClass = trafficClass
    }

    /// Communicators with a live context; the first of a load reads the environment.
    static let live = Mutex(0)
}

@_cdecl("fabricauth_nccl_init_context")
func ncclInitContext(_ communicator: UInt64, _ trafficClass: Int32, _ ctx: UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32 {
    guard let ctx else { return PluginLog.fail(.internalError, "init: NULL ctx") }
    ctx.pointee = nil
    let shared = PluginContext.live.withLock { $0 } > 0 ? PluginRuntime.load() : nil
    guard let runtime = shared ?? loadRuntime() else { return PluginResult.internalError.rawValue }
    PluginContext.live.withLock { $0 += 1 }
    ctx.pointee = Unmanaged.passRetained(PluginContext(runtime: runtime, communicator: communicator, trafficClass: trafficClass)).toOpaque()
    return PluginResult.success.rawValue
}

@_cdecl("fabricauth_nccl_finalize")
func ncclFinalize(_ ctx: UnsafeMutableRawPointer?) -> Int32 {
    guard let ctx else { return PluginLog.fail(.internalError, "finalize: NULL ctx") }
    Unmanaged<PluginContext>.fromOpaque(ctx).release()
    PluginContext.live.withLock { $0 -= 1 }
    // The counters as the communicator leaves them, not up to an interval old.
    PluginMetrics.writeNow()
    // The communicator's closes on disk before NCCL moves on (a job may exit right after).
    PluginAudit.flush()
    return PluginResult.success.rawValue
}

/// The runtime a listen or connect uses: its communicator's (v11+), else the one v8..v10's init loaded.
private func runtime(for ctx: UnsafeMutableRawPointer?) -> PluginRuntime? {
    guard let ctx else { return PluginRuntime.load() }
    return Unmanaged<PluginContext>.fromOpaque(ctx).takeUnretainedValue().runtime
}

@_cdecl("fabricauth_nccl_devices")
func ncclDevices(_ count: UnsafeMutablePointer<Int32>?) -> Int32 {
    guard let count else { return PluginLog.fail(.internalError, "devices: NULL count") }
    guard PluginRuntime.load() != nil else { return PluginLog.fail(.internalError, "devices before a successful init") }
    count.pointee = 1
    return PluginResult.success.rawValue
}

@_cdecl("fabricauth_nccl_get_properties_v8")
func ncclGetPropertiesV8(_ device: Int32, _ properties: UnsafeMutablePointer<ncclNetProperties_v8_t>?) -> Int32 {
    guard let properties, device == 0 else { return PluginLog.fail(.internalError, "getProperties: no device \(device)") }
    guard let runtime = PluginRuntime.load() else { return PluginLog.fail(.internalError, "getProperties before a successful init") }
    properties.pointee = ncclNetProperties_v8_t(
        name: runtime.deviceNameC, pciPath: runtime.pciPathC, guid: runtime.guid,
        ptrSupport: NCCL_PTR_HOST, regIsGlobal: 0, speed: runtime.speedMbps, port: 1, latency: 0,
        maxComms: runtime.maxComms, maxRecvs: Int32(PluginRuntime.maxRecvs),
        netDeviceType: NCCL_NET_DEVICE_HOST, netDeviceVersion: NCCL_NET_DEVICE_INVALID_VERSION)
    return PluginResult.success.rawValue
}

@_cdecl("fabricauth_nccl_listen")
func ncclListen(_ ctx: UnsafeMutableRawPointer?, _ device: Int32, _ handle: UnsafeMutableRawPointer?, _ listenComm: UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32 {
    guard let handle, let listenComm, device == 0 else { return PluginLog.fail(.internalError, "listen: bad arguments") }
    guard let runtime = runtime(for: ctx) else { return PluginLog.fail(.internalError, "listen before a successful init") }
    listenComm.pointee = nil
    let comm: ListenComm
    do {
        comm = try ListenComm(runtime: runtime)
        do {
            try ListenHandle(host: runtime.listenAddress, port: comm.port, route: comm.route)
                .encode(into: UnsafeMutableRawBufferPointer(start: handle, count: ListenHandle.size))
        } catch {
            comm.close()
            throw error
        }
    } catch let error as ChannelError {
        return PluginLog.fail(error.pluginResult, "listen: \(error)")
    } catch {
        return PluginLog.fail(.internalError, "listen: \(error)")
    }
    listenComm.pointee = Unmanaged.passRetained(comm).toOpaque()
    return PluginResult.success.rawValue
}

@_cdecl("fabricauth_nccl_connect")
func ncclConnect(_ ctx: UnsafeMutableRawPointer?, _ device: Int32, _ handle: UnsafeMutableRawPointer?, _ trafficClass: Int32,
    _ sendComm: UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32 {
    guard let handle, let sendComm, device == 0 else { return PluginLog.fail(.internalError, "connect: bad arguments") }
    guard let runtime = runtime(for: ctx) else { return PluginLog.fail(.internalError, "connect before a successful init") }
    sendComm.pointee = nil
    let raw = UnsafeMutableRawBufferPointer(start: handle, count: ListenHandle.size)
    let target: ListenHandle
    do { target = try ListenHandle.decode(UnsafeRawBufferPointer(raw)) } catch {
        return PluginLog.fail(.internalError, "connect: \(error)")
    }
    var id = ListenHandle.setupID(in: UnsafeRawBufferPointer(raw))
    if id == 0 {
        var chosen = runtime.configuration
        // v10 passes the traffic class with connect, v11+ with the communicator's init.
        let requested = ctx.map { Unmanaged<PluginContext>.fromOpaque($0).takeUnretainedValue().trafficClass } ?? trafficClass
        if requested >= 0 { chosen.connection.trafficClass = UInt8(clamping: requested) }
        // The route again inside the handshake, where it is authenticated: the
        // peer's listener hands the channel to the listen it names (ProcessListener).
        chosen.handshakePayload = target.route
        do {
            id = runtime.connects.start(try ConnectorSetup(context: runtime.context, host: target.host, port: target.port,
                configuration: chosen, sessions: runtime.sessions, route: target.route))
        } catch {
            return PluginPeerLog.refused("connect to \(target.host):\(target.port)", error)
        }
        ListenHandle.setSetupID(id, in: raw)
    }
    guard let setup = runtime.connects.find(id) else {
        return PluginLog.fail(.internalError, "connect: the handle names setup \(id), which this load never started")
    }
    // One step per call: whatever is ready, never a wait.
    let channel: AuthenticatedQueuePair
    do {
        guard let done = try setup.step() else { return PluginResult.success.rawValue }
        channel = done
    } catch {
        runtime.connects.finish(id)
        ListenHandle.setSetupID(0, in: raw)
        return PluginPeerLog.refused("connect to \(target.host):\(target.port)", error)
    }
    runtime.connects.finish(id)
    ListenHandle.setSetupID(0, in: raw)
    PluginPeerLog.verified(peer: "\(channel.peer.spiffeID)",
        "send comm to \(target.host):\(target.port), QP \(channel.queuePairNumber)" + (channel.resumed ? " (resumed)" : ""))
    sendComm.pointee = Unmanaged.passRetained(PluginComm(role: .send, runtime: runtime, channel: channel)).toOpaque()
    return PluginResult.success.rawValue
}

@_cdecl("fabricauth_nccl_accept")
func ncclAccept(_ listenComm: UnsafeMutableRawPointer?, _ recvComm: UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32 {
    guard let listenComm, let recvComm else { return PluginLog.fail(.internalError, "accept: bad arguments") }
    recvComm.pointee = nil
    let listen = Unmanaged<ListenComm>.fromOpaque(listenComm).takeUnretainedValue()
    guard !listen.accepted else { return PluginLog.fail(.internalError, "accept: this listenComm already accepted its connection") }
    guard let outcome = listen.listener.take(listen.route)?.value else {
        guard ContinuousClock.now < listen.deadline else {
            listen.accepted = true
            return PluginPeerLog.refused("accept on port \(listen.port)",
                .timedOut("no peer connected within FABRICAUTH_SETUP_TIMEOUT=\(listen.runtime.settings.setupTimeoutSeconds) s"))
        }
        return PluginResult.success.rawValue
    }
    listen.accepted = true
    switch outcome {
    case .success(let channel):
        PluginPeerLog.verified(peer: "\(channel.peer.spiffeID)",
            "recv comm on port \(listen.port), QP \(channel.queuePairNumber)" + (channel.resumed ? " (resumed)" : ""))
        recvComm.pointee = Unmanaged.passRetained(PluginComm(role: .receive, runtime: listen.runtime, channel: channel)).toOpaque()
        return PluginResult.success.rawValue
    case .failure(let error):
        return PluginPeerLog.refused("accept on port \(listen.port)", error)
    }
}

@_cdecl("fabricauth_nccl_reg_mr")
func ncclRegMr(_ comm: UnsafeMutableRawPointer?, _ data: UnsafeMutableRawPointer?, _ size: Int, _ type: Int32,
    _ mhandle: UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32 {
    guard let comm, let data, let mhandle else { return PluginLog.fail(.internalError, "regMr: bad arguments") }
    guard type == NCCL_PTR_HOST else { return PluginLog.fail(.internalError, "regMr: only host memory (NCCL_PTR_HOST) is supported, got type \(type)") }
    let c = Unmanaged<PluginComm>.fromOpaque(comm).takeUnretainedValue()
    c.lock.lock()
    defer { c.lock.unlock() }
    do {
        mhandle.pointee = Unmanaged.passRetained(try c.register(data, size: size)).toOpaque()
        return PluginResult.success.rawValue
    } catch {
        return PluginLog.fail(error.pluginResult, "regMr of \(size) bytes: \(error)")
    }
}

@_cdecl("fabricauth_nccl_dereg_mr")
func ncclDeregMr(_ comm: UnsafeMutableRawPointer?, _ mhandle: UnsafeMutableRawPointer?) -> Int32 {
    guard let comm, let mhandle else { return PluginLog.fail(.internalError, "deregMr: bad arguments") }
    let memory = Unmanaged<MemoryHandle>.fromOpaque(mhandle)
    guard memory.takeUnretainedValue().comm === Unmanaged<PluginComm>.fromOpaque(comm).takeUnretainedValue() else {
        return PluginLog.fail(.internalError, "deregMr: mhandle belongs to another comm")
    }
    memory.release()
    return PluginResult.success.rawValue
}

@_cdecl("fabricauth_nccl_isend")
func ncclIsend(_ sendComm: UnsafeMutableRawPointer?, _ data: UnsafeMutableRawPointer?, _ size: Int, _ tag: UInt32,
    _ mhandle: UnsafeMutableRawPointer?, _ request: UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32 {
    guard let sendComm, let data, let mhandle, let request else { return PluginLog.fail(.internalError, "isend: bad arguments") }
    request.pointee = nil
    let comm = Unmanaged<PluginComm>.fromOpaque(sendComm).takeUnretainedValue()
    let memory = Unmanaged<MemoryHandle>.fromOpaque(mhandle).takeUnretainedValue()
    guard memory.comm === comm else { return PluginLog.fail(.internalError, "isend: mhandle registered with another comm") }
    comm.lock.lock()
    defer { comm.lock.unlock() }
    do {
        if let slot = try comm.isend(data, size: size, tag: tag, memory: memory) {
            request.pointee = Unmanaged.passUnretained(slot).toOpaque()
        }
        return PluginResult.success.rawValue
    } catch {
        return PluginLog.fail(error.pluginResult, "isend of \(size) bytes (tag \(tag)): \(error)")
    }
}

@_cdecl("fabricauth_nccl_irecv")
func ncclIrecv(_ recvComm: UnsafeMutableRawPointer?, _ n: Int32, _ data: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    _ sizes: UnsafePointer<Int>?, _ tags: UnsafePointer<UInt32>?, _ mhandles: UnsafePointer<UnsafeMutableRawPointer?>?,
    _ request: UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32 {
    guard let recvComm, let data, let sizes, let tags, let mhandles, let request else {
        return PluginLog.fail(.internalError, "irecv: bad arguments")
    }
    request.pointee = nil
    let comm = Unmanaged<PluginComm>.fromOpaque(recvComm).takeUnretainedValue()
    comm.lock.lock()
    defer { comm.lock.unlock() }
    do {
        if let slot = try comm.irecv(count: Int(n), data: data, sizes: sizes, tags: tags, memories: mhandles) {
            request.pointee = Unmanaged.passUnretained(slot).toOpaque()
        }
        return PluginResult.success.rawValue
    } catch {
        return PluginLog.fail(error.pluginResult, "irecv of \(n) buffer(s): \(error)")
    }
}

@_cdecl("fabricauth_nccl_test")
func ncclTest(_ request: UnsafeMutableRawPointer?, _ done: UnsafeMutablePointer<Int32>?, _ sizes: UnsafeMutablePointer<Int>?,
    _ count: UnsafeMutablePointer<Int32>?) -> Int32 {
    guard let request, let done, let sizes, let count else { return PluginLog.fail(.internalError, "test: bad arguments") }
    done.pointee = 0
    let slot = Unmanaged<RequestSlot>.fromOpaque(request).takeUnretainedValue()
    let comm = slot.comm
    comm.lock.lock()
    defer { comm.lock.unlock() }
    do {
        guard let n = try comm.test(slot, sizes: sizes) else { return PluginResult.success.rawValue }
        count.pointee = Int32(n)
        done.pointee = 1
        return PluginResult.success.rawValue
    } catch {
        return PluginLog.fail(error.pluginResult, "\(comm.role) request failed: \(error)")
    }
}

@_cdecl("fabricauth_nccl_close_send")
func ncclCloseSend(_ sendComm: UnsafeMutableRawPointer?) -> Int32 { closeComm(sendComm, .send) }

@_cdecl("fabricauth_nccl_close_recv")
func ncclCloseRecv(_ recvComm: UnsafeMutableRawPointer?) -> Int32 { closeComm(recvComm, .receive) }

private func closeComm(_ pointer: UnsafeMutableRawPointer?, _ role: PluginComm.Role) -> Int32 {
    guard let pointer else { return PluginResult.success.rawValue }
    let unmanaged = Unmanaged<PluginComm>.fromOpaque(pointer)
    let comm = unmanaged.takeUnretainedValue()
    guard comm.role == role else { return PluginLog.fail(.internalError, "close\(role == .send ? "Send" : "Recv") of a \(comm.role) comm") }
    comm.lock.lock()
    comm.close()
    comm.lock.unlock()
    // mhandles NCCL has not deregistered keep the comm's memory alive until they are.
    unmanaged.release()
    return PluginResult.success.rawValue
}

@_cdecl("fabricauth_nccl_close_listen")
func ncclCloseListen(_ listenComm: UnsafeMutableRawPointer?) -> Int32 {
    guard let listenComm else { return PluginResult.success.rawValue }
    let unmanaged = Unmanaged<ListenComm>.fromOpaque(listenComm)
    unmanaged.takeUnretainedValue().close()
    unmanaged.release()
    return PluginResult.success.rawValue
}
