"""The CPU's fast path for convolutional networks: activations in a channel-blocked layout
(NCHWc, as MLAS and oneDNN keep them) and register-tiled SIMD kernels that read it.

- ``layout``: the ``Blocked`` value (N, C/L, H, W, L) and conversions to and from NCHW;
- ``codegen``: the generated tile kernels (numba + the vector intrinsics of ``simd``);
- ``conv``: direct convolution, weights packed once per node (groups, strides, dilations,
  padding, a fused residual and Relu), and depthwise convolution;
- ``pool``: max and average pooling on blocked values.

Ops opt in to blocked inputs (``native(..., blocked=True)``); every other op, the reference
tier and every transfer off the device see plain NCHW arrays (``HostNodes`` converts).
"""
