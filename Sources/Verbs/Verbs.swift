// Verbs: under construction; see the issue that builds it.
import CIBVerbs
import CRDMACM
import CVerbsShim

func _probe() {
    var n: Int32 = 0
    let list = ibv_get_device_list(&n)
    ibv_free_device_list(list)
    _ = fa_ibv_reg_mr
    _ = ibv_post_send
    _ = ibv_poll_cq
    _ = ibv_bind_mw
    _ = rdma_create_event_channel
}
