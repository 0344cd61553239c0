using Strata.EndToEnd.Tests.Harness;
using Xunit;
using Xunit.Abstractions;
using static Strata.EndToEnd.Tests.Harness.StrataCluster;

namespace Strata.EndToEnd.Tests;

/// <summary>
/// Disk pools, as OpenEBS NDM and a `type: disk` StoragePoolClaim make them: each node publishes a real block device
/// (a loop device here) as a BlockDevice, the claim lists them, pools are built on them and released when deleted.
/// </summary>
public sealed class ClusterDiskTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);
    private readonly Action<string> _log = new TestLog(output).Line;
    private readonly Scratch _scratch = new("disk");
    private readonly List<string> _loops = [];

    public void Dispose()
    {
        foreach (string loop in _loops)
            Tool.RunAsync("losetup", ["-d", loop], TimeSpan.FromSeconds(30), log: _log).GetAwaiter().GetResult();
        _scratch.Dispose();
    }

    [Fact]
    public async Task Block_devices_found_on_each_node_become_disk_pools_that_serve_a_volume_and_are_released_when_the_claim_goes()
    {
        for (int i = 0; i < 3; i++)
        {
            string file = _scratch.File($"disk{i}.img");
            using (var f = File.Create(file)) f.SetLength(512L << 20);
            var attached = await Tool.RunCheckedAsync("losetup", ["--find", "--show", file], TimeSpan.FromSeconds(30), log: _log);
            _loops.Add(attached.Stdout.Trim());
        }

        await using var cluster = await StrataCluster.EtcdAsync(3, _log, nodeArguments: i => ["--include-loop", "--include-device", _loops[i]]);
        await cluster.WaitForAsync("bd", items => items.Count == 3 && items.All(d => Field(d, "status.claimState") == "Unclaimed"), s_timeout, "one Unclaimed BlockDevice per node");
        var disks = await cluster.ListAsync("bd");
        for (int i = 0; i < 3; i++)
        {
            var disk = disks.Single(d => Field(d, "spec.node") == NodeName(i));
            Assert.Equal(_loops[i], Field(disk, "spec.path"));
            Assert.Equal(512L << 20, Long(disk, "spec.capacityBytes"));
            Assert.Equal("loop", Field(disk, "spec.deviceType"));
        }

        string claim = $"""
            apiVersion: openebs.io/v1alpha1
            kind: StoragePoolClaim
            metadata:
              name: disk-pool
            spec:
              name: disk-pool
              type: disk
              poolSpec:
                poolType: striped
              blockDevices:
                blockDeviceList:
            {string.Concat(disks.Select(d => $"      - {Field(d, "metadata.name")}\n"))}
            ---
            apiVersion: storage.k8s.io/v1
            kind: StorageClass
            metadata:
              name: disk-sc
              annotations:
                openebs.io/cas-type: cstor
                cas.openebs.io/config: |
                  - name: StoragePoolClaim
                    value: "disk-pool"
                  - name: ReplicaCount
                    value: "2"
            provisioner: openebs.io/provisioner-iscsi
            ---
            apiVersion: v1
            kind: PersistentVolumeClaim
            metadata:
              name: disk-pvc
            spec:
              storageClassName: disk-sc
              accessModes: [ReadWriteOnce]
              resources:
                requests:
                  storage: 256Mi
            """;
        File.WriteAllText(_scratch.File("disk.yaml"), claim);
        await cluster.CliCheckedAsync("apply", "-f", _scratch.File("disk.yaml"));
        await cluster.WaitForAsync("csp", items => items.Count == 3 && items.All(p => Field(p, "status.phase") == "Healthy"), s_timeout, "three Healthy disk pools");
        foreach (var pool in await cluster.ListAsync("csp"))
        {
            int node = int.Parse(Field(pool, "spec.node")!["node-".Length..], System.Globalization.CultureInfo.InvariantCulture) - 1;
            Assert.Equal(_loops[node], (string?)pool["spec"]!["devices"]![0]);
        }
        await cluster.WaitForAsync("bd", items => items.All(d => Field(d, "status.claimState") == "Claimed"), s_timeout, "every BlockDevice Claimed");

        await cluster.WaitForAsync("pvc", items => items.Any(c => Field(c, "status.phase") == "Bound"), s_timeout, "disk-pvc Bound");
        var volume = (await cluster.ListAsync("pv")).Single();
        string url = $"iscsi://{Field(volume, "spec.iscsi.targetPortal")}/{Field(volume, "spec.iscsi.iqn")}/0";
        var data = new byte[32 << 20];
        new Random(7).NextBytes(data);
        await File.WriteAllBytesAsync(_scratch.File("data.bin"), data);
        await Tool.RunCheckedAsync("qemu-img", ["convert", "-n", "-t", "writeback", "-f", "raw", "-O", "raw", _scratch.File("data.bin"), url], TimeSpan.FromMinutes(2), log: _log);
        var compare = await Tool.RunAsync("qemu-img", ["compare", "-f", "raw", "-F", "raw", _scratch.File("data.bin"), url], TimeSpan.FromMinutes(2), log: _log);
        Assert.True(compare.ExitCode == 0, compare.Describe());

        // A claim whose pools hold a volume cannot go; once the volume is gone it can, and the disks are free again.
        var refused = await cluster.CliAsync("delete", "spc", "disk-pool");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("hold volumes", refused.Stderr, StringComparison.Ordinal);
        await cluster.CliCheckedAsync("delete", "pvc", "disk-pvc");
        await cluster.WaitForAsync("pv", items => items.Count == 0, s_timeout, "the volume deleted");
        await cluster.CliCheckedAsync("delete", "spc", "disk-pool");
        await cluster.WaitForAsync("csp", items => items.Count == 0, s_timeout, "the disk pools deleted");
        await cluster.WaitForAsync("spc", items => items.Count == 0, s_timeout, "the claim gone");
        await cluster.WaitForAsync("bd", items => items.All(d => Field(d, "status.claimState") == "Unclaimed"), s_timeout, "every BlockDevice Unclaimed again");
        foreach (string loop in _loops)
        {
            var head = new byte[8192];
            using var device = File.OpenRead(loop);
            device.ReadExactly(head);
            Assert.True(head.All(b => b == 0), $"{loop}'s pool labels were not wiped");
        }
    }
}
