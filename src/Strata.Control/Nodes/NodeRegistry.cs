using Strata.Control.Reconcile;
using Strata.Control.Resources;
using Strata.Control.Store;
using Strata.State;

namespace Strata.Control.Nodes;

/// <summary>
/// The control plane's side of the node agents: registration and the heartbeat lease, the assignments each node
/// hosts, the status it reports, and the finalization of what it released.
/// </summary>
public sealed class NodeRegistry(IStore store, ChangeNotifier changes, Action<string> log)
{
    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromSeconds(6);

    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(2);

    private readonly ResourceStore _resources = new(store);
    private readonly EventRecorder _events = new(store, "control-plane");

    public async Task<NodeLease> RegisterAsync(string name, NodeRegistration registration, CancellationToken ct)
    {
        long lease = await GrantAsync(name, ct).ConfigureAwait(false);
        var now = DateTimeOffset.UtcNow;
        bool created = false;
        var node = await _resources.MutateAsync<Node>(ResourceKind.Node, null, name, n =>
        {
            n.Spec = SpecOf(registration);
            n.Status.Lease = lease;
            n.Status.RegisteredAt = now;
            n.Status.Version = registration.Version;
            return true;
        }, ct).ConfigureAwait(false);
        if (node is null)
        {
            node = new Node
            {
                Metadata = { Name = name, Labels = new() { ["kubernetes.io/hostname"] = name } },
                Spec = SpecOf(registration),
                Status = new NodeStatus { Phase = "Ready", Lease = lease, RegisteredAt = now, Version = registration.Version },
            };
            created = await _resources.CreateAsync(node, ct).ConfigureAwait(false);
            if (!created)
            {
                return await RegisterAsync(name, registration, ct).ConfigureAwait(false);
            }
        }

        log($"node {name} registered (portal {registration.IscsiPortal})");
        await _events.RecordAsync(node, "Normal", "Registered", $"node agent {registration.Version} registered, iSCSI portal {registration.IscsiPortal}", ct).ConfigureAwait(false);
        return new NodeLease(lease, (int)LeaseTtl.TotalSeconds, (int)HeartbeatInterval.TotalSeconds);
    }

    private static NodeSpec SpecOf(NodeRegistration r) =>
        new() { Address = r.Address, IscsiPortal = r.IscsiPortal, SparseFileBytes = r.SparseFileBytes, ReplicaEndpoint = r.ReplicaEndpoint };

    /// <summary>Renews the node's lease; false when the node must register again (unknown, or its lease ended).</summary>
    public async Task<bool> HeartbeatAsync(string name, long lease, CancellationToken ct)
    {
        var node = await _resources.GetAsync<Node>(ResourceKind.Node, null, name, ct).ConfigureAwait(false);
        if (node is null || node.Status.Lease != lease)
        {
            return false;
        }

        return await store.KeepAliveAsync(lease, ct).ConfigureAwait(false)
            && await store.GetAsync(ClusterView.NodeLeasePrefix + name, ct).ConfigureAwait(false) is not null;
    }

    /// <summary>
    /// A node agent stopping cleanly gives its lease back: it is NotReady at once (what it hosts goes Offline on the
    /// next pass) instead of after the lease's TTL, and says it was stopped rather than lost.
    /// </summary>
    public async Task<bool> DeregisterAsync(string name, long lease, CancellationToken ct)
    {
        var node = await _resources.MutateAsync<Node>(ResourceKind.Node, null, name, n =>
        {
            if (n.Status.Lease != lease)
            {
                return false;
            }

            var c = n.Status.Conditions;
            Conditions.Set(ref c, "Ready", false, NodeHealthReconciler.StoppedReason, "the node agent was stopped (it shut down cleanly and gave its lease back)");
            n.Status.Conditions = c;
            return true;
        }, ct).ConfigureAwait(false);
        if (node is null || node.Status.Lease != lease)
        {
            return false;
        }

        await store.RevokeLeaseAsync(lease, ct).ConfigureAwait(false);
        log($"node {name} stopped and gave its lease back");
        return true;
    }

    /// <summary>
    /// What node <paramref name="name"/> holds and serves, once the state has changed past <paramref name="seen"/>
    /// or <paramref name="wait"/> has passed, whichever comes first (a long poll; <paramref name="endWait"/> ends it early).
    /// </summary>
    public async Task<NodeAssignments> AssignmentsAsync(string name, long seen, TimeSpan wait, CancellationToken endWait, CancellationToken ct)
    {
        if (seen > 0)
        {
            await changes.WaitAsync(seen, wait, endWait).ConfigureAwait(false);
        }

        var view = await ClusterView.ReadAsync(store, ct).ConfigureAwait(false);
        var replicas = view.Replicas.Where(r => r.Spec.Node == name).ToList();
        return new NodeAssignments(
            view.Revision,
            view.Pools.Where(p => p.Spec.Node == name).ToList(),
            replicas,
            // A node serves the targets placed on it, and must know the volumes whose replicas it holds are being deleted.
            view.Volumes.Where(v => v.Spec.TargetNode == name).ToList(),
            view.Nodes.Where(n => n.Spec.ReplicaEndpoint is not null).ToDictionary(n => n.Metadata.Name, n => n.Spec.ReplicaEndpoint!, StringComparer.Ordinal));
    }

    /// <summary>Applies a node's report; false when the node's lease has ended (it must register again first).</summary>
    public async Task<bool> ReportAsync(string name, NodeReport report, CancellationToken ct)
    {
        if (await store.GetAsync(ClusterView.NodeLeasePrefix + name, ct).ConfigureAwait(false) is null)
        {
            return false;
        }

        var now = DateTimeOffset.UtcNow;
        foreach (var p in report.Pools)
        {
            await _resources.MutateAsync<StoragePool>(ResourceKind.StoragePool, null, p.Name, pool =>
            {
                if (pool.Spec.Node != name)
                {
                    return false;
                }

                var s = pool.Status;
                var c = s.Conditions;
                bool changed = Conditions.Set(ref c, "NodeReady", true, "NodeReporting", $"node {name} reports the pool");
                changed |= Conditions.Set(ref c, "Healthy", p.Phase == "Healthy", p.Phase, p.Message ?? $"the pool is {p.Phase}");
                changed |= s.Phase != p.Phase || s.CapacityBytes != p.CapacityBytes || s.AllocatedBytes != p.AllocatedBytes || s.FreeBytes != p.FreeBytes
                    || !(s.Vdevs ?? []).SequenceEqual(p.Vdevs);
                s.Conditions = c;
                (s.Phase, s.CapacityBytes, s.AllocatedBytes, s.FreeBytes, s.Vdevs, s.LastReported) = (p.Phase, p.CapacityBytes, p.AllocatedBytes, p.FreeBytes, p.Vdevs, now);
                return changed;
            }, ct).ConfigureAwait(false);
        }

        var inSyncSets = new Dictionary<string, List<string>?>(StringComparer.Ordinal);
        foreach (var r in report.Replicas)
        {
            // A replica the volume's target has not reported yet is Healthy only if it is in the in-sync set: a
            // replacement is made empty and must not look Healthy before its rebuild starts.
            var known = await _resources.GetAsync<VolumeReplica>(ResourceKind.VolumeReplica, null, r.Name, ct).ConfigureAwait(false);
            if (known is null)
            {
                continue;
            }

            string volumeName = known.Spec.Volume;
            if (!inSyncSets.TryGetValue(volumeName, out var inSync))
            {
                var volume = await _resources.GetAsync<Volume>(ResourceKind.Volume, null, volumeName, ct).ConfigureAwait(false);
                inSync = volume?.InSyncReplicas();
                inSyncSets[volumeName] = inSync;
            }

            await _resources.MutateAsync<VolumeReplica>(ResourceKind.VolumeReplica, null, r.Name, replica =>
            {
                if (replica.Spec.Node != name)
                {
                    return false;
                }

                var s = replica.Status;
                var c = s.Conditions;
                string phase = ReplicaPhase.Of(r.Phase, s.Sync, inSync?.Contains(r.Name) ?? true /* no volume says otherwise */);
                bool changed = Conditions.Set(ref c, "NodeReady", true, "NodeReporting", $"node {name} reports the replica");
                changed |= Conditions.Set(ref c, "Healthy", phase == "Healthy", phase, phase == r.Phase ? r.Message ?? $"the replica is {r.Phase}" : ReplicaPhase.Why(s.Sync));
                changed |= s.Phase != phase || s.UsedBytes != r.UsedBytes || s.AllocatedBytes != r.AllocatedBytes;
                s.Conditions = c;
                (s.Phase, s.UsedBytes, s.AllocatedBytes, s.LastReported) = (phase, r.UsedBytes, r.AllocatedBytes, now);
                return changed;
            }, ct).ConfigureAwait(false);
        }

        foreach (var t in report.Targets)
        {
            await _resources.MutateAsync<Volume>(ResourceKind.Volume, null, t.Volume, volume =>
            {
                if (volume.Spec.TargetNode != name)
                {
                    return false;
                }

                var c = volume.Status.Conditions;
                bool changed = Conditions.Set(ref c, "TargetReady", t.Ready, t.Ready ? "Serving" : "NotServing",
                    t.Message ?? (t.Ready ? $"target {volume.Spec.Iscsi.Iqn} LUN 0 serves at {t.Portal}" : "the target is not serving"));
                volume.Status.Conditions = c;
                if (t.Ready && volume.Status.TargetPortal != t.Portal)
                {
                    volume.Status.TargetPortal = t.Portal;
                    changed = true;
                }

                return changed;
            }, ct).ConfigureAwait(false);

            foreach (var sync in t.Replicas ?? [])
            {
                await _resources.MutateAsync<VolumeReplica>(ResourceKind.VolumeReplica, null, sync.Name, replica =>
                {
                    if (replica.Spec.Volume != t.Volume || replica.Status.Sync is { } old && old.Epoch > sync.Sync.Epoch)
                    {
                        return false; // not this volume's, or reported by an older target than the last one
                    }

                    var s = replica.Status;
                    string phase = s.Phase is "Healthy" or "Rebuilding" or "Degraded" ? ReplicaPhase.Of("Healthy", sync.Sync, inSync: false /* the target's word decides */) : s.Phase ?? "Pending";
                    bool changed = phase != s.Phase || !ReplicaPhase.Same(s.Sync, sync.Sync);
                    if (phase != s.Phase)
                    {
                        var c = s.Conditions;
                        Conditions.Set(ref c, "Healthy", phase == "Healthy", phase, phase == "Healthy" ? "in the volume's in-sync set" : ReplicaPhase.Why(sync.Sync));
                        s.Conditions = c;
                    }

                    (s.Phase, s.Sync) = (phase, sync.Sync);
                    return changed;
                }, ct).ConfigureAwait(false);
            }
        }

        if (report.BlockDevices is { } disks)
        {
            await UpsertBlockDevicesAsync(name, disks, ct).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>Removes a resource being deleted once its node released what it held. False when it is not this node's or not being deleted.</summary>
    public async Task<bool> FinalizeAsync(string name, NodeFinalization finalization, CancellationToken ct)
    {
        var kind = ResourceKind.Find(finalization.Kind);
        if (kind != ResourceKind.StoragePool && kind != ResourceKind.VolumeReplica)
        {
            return false;
        }

        var resource = await _resources.GetAsync<Resource>(kind, null, finalization.Name, ct).ConfigureAwait(false);
        string? owner = resource switch
        {
            StoragePool p => p.Spec.Node,
            VolumeReplica r => r.Spec.Node,
            _ => null,
        };
        if (resource is null || owner != name || resource.Metadata.DeletionTimestamp is null)
        {
            return resource is null; // already gone: finalizing twice is fine
        }

        if (await _resources.DeleteAsync(resource, ct).ConfigureAwait(false))
        {
            await _events.DeleteAllAsync(resource, ct).ConfigureAwait(false);
            log($"{kind.Kind.ToLowerInvariant()} {finalization.Name} released by node {name} and deleted");
        }

        return true;
    }

    private async Task<long> GrantAsync(string name, CancellationToken ct)
    {
        long lease = await store.GrantLeaseAsync(LeaseTtl, ct).ConfigureAwait(false);
        await store.PutAsync(ClusterView.NodeLeasePrefix + name, "{}"u8.ToArray(), Revision.Any, lease, ct).ConfigureAwait(false);
        return lease;
    }

    private async Task UpsertBlockDevicesAsync(string node, List<BlockDeviceSpec> disks, CancellationToken ct)
    {
        var existing = (await _resources.ListAsync<BlockDevice>(ResourceKind.BlockDevice, ct).ConfigureAwait(false))
            .Where(d => d.Spec.Node == node).ToDictionary(d => d.Metadata.Name, StringComparer.Ordinal);
        foreach (var disk in disks)
        {
            string bdName = BlockDeviceName(node, disk);
            if (existing.Remove(bdName, out var current))
            {
                if (current.Status.State == "Active" && SameSpec(current.Spec, disk))
                {
                    continue;
                }

                current.Spec = disk;
                current.Status.State = "Active";
                await _resources.UpdateAsync(current, ct).ConfigureAwait(false);
                continue;
            }

            var bd = new BlockDevice
            {
                Metadata = { Name = bdName, Labels = new() { ["kubernetes.io/hostname"] = node, ["ndm.io/blockdevice-type"] = "blockdevice" } },
                Spec = disk,
                Status = new BlockDeviceStatus
                {
                    State = "Active",
                    ClaimState = disk.Unusable is null ? "Unclaimed" : "Unusable",
                    Reason = disk.Unusable,
                },
            };
            await _resources.CreateAsync(bd, ct).ConfigureAwait(false);
        }

        foreach (var gone in existing.Values.Where(d => d.Status.State != "Unknown"))
        {
            gone.Status.State = "Unknown";
            gone.Status.Reason = $"node {node} no longer finds {gone.Spec.Path}";
            await _resources.UpdateAsync(gone, ct).ConfigureAwait(false);
        }
    }

    private static bool SameSpec(BlockDeviceSpec a, BlockDeviceSpec b) =>
        a.Path == b.Path && a.CapacityBytes == b.CapacityBytes && a.Model == b.Model && a.Serial == b.Serial
        && a.Partitioned == b.Partitioned && a.MountPoint == b.MountPoint && a.FileSystem == b.FileSystem && a.DeviceType == b.DeviceType && a.Unusable == b.Unusable;

    /// <summary>NDM's naming: blockdevice-&lt;hash of node and serial or path&gt;, stable across restarts.</summary>
    public static string BlockDeviceName(string node, BlockDeviceSpec disk)
    {
        string identity = $"{node}/{(string.IsNullOrEmpty(disk.Serial) ? disk.Path : disk.Serial)}";
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(identity));
        return "blockdevice-" + Convert.ToHexStringLower(hash.AsSpan(0, 16));
    }
}
