"""The local cluster the suite, the demo and the benchmarks run on: a real control plane
(`controlplane`) and a real node (`node`: containerd, kubelet, kube-proxy; `addons`: CoreDNS and
the local-path provisioner) pulling its images from a local OCI registry (`registry`, `images`),
kwok for many fake pods (`kwok`), kube-router for NetworkPolicies (`netpol`), a teardown that
leaves the machine as it was (`teardown`, checked by `machine`). See docs/localcluster.md.

Test tooling (project `swarm-localcluster`, e2e/pyproject.toml): never part of the product's
wheel or image, and it never imports the product."""
