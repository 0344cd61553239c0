using System.Runtime.Versioning;
using Xunit;

// These tests start real targets, mount file systems and boot VMs on a 2-core machine: one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
// They drive Linux tools (ip netns, losetup, FUSE, qemu) and run only on Linux.
[assembly: SupportedOSPlatform("linux")]
