"""torch/diffusers helpers behind the diffusion nodes: loading, encoding, sampling, decoding.

No Qt here. Node packs import these modules lazily (inside node functions) so that listing
nodes never pays for importing torch.
"""
