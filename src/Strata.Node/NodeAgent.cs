using Strata.Control;
using Strata.Control.Api;
using Strata.Control.Nodes;
using Strata.Control.Resources;
using Strata.Node.Discovery;
using Strata.Node.Hosting;
using Strata.Pool;

namespace Strata.Node;

/// <summary>
/// A node agent: registers with the control plane and keeps its lease alive, hosts the pools, replicas and targets
/// placed on it (like kubelet hosts pods), publishes the disks it finds, and reports what is true.
/// </summary>
public sealed class NodeAgent : IAsyncDisposable
{
    private readonly NodeAgentOptions _options;
    private readonly ControlClient _client;
    private readonly PoolHost _pools;
    private readonly TargetHost _targets;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _hosting = new(1, 1);
    private Task _run = Task.CompletedTask;
    private Task _commits = Task.CompletedTask;
    private NodeAssignments? _assigned;
    private List<BlockDeviceSpec>? _disks;
    private DateTime _discovered;
    private long _lease;
    private readonly Dictionary<string, string> _replicaFailures = new(StringComparer.Ordinal);

    public NodeAgent(NodeAgentOptions options)
    {
        _options = options;
        _client = new ControlClient(options.Control, options.Token, TimeSpan.FromSeconds(45));
        _pools = new PoolHost(options.DataDirectory, options.SparseFileBytes, Log);
        _targets = new TargetHost(options.IscsiPortal, options.AdvertiseAddress, Log);
    }

    public string Name => _options.Name;

    /// <summary>The iSCSI portal, address:port.</summary>
    public string Portal => _targets.Portal;

    /// <summary>True once the control plane has accepted the node's registration (and until its lease is lost).</summary>
    public bool Registered { get; private set; }

    /// <summary>Listens on the portal (failing at once if it cannot), then registers and hosts in the background.</summary>
    public void Start()
    {
        Directory.CreateDirectory(_options.DataDirectory);
        _targets.Start();
        _run = Task.Run(() => RunAsync(_stop.Token));
        _commits = Task.Run(() => CommitLoopAsync(_stop.Token));
    }

    /// <summary>
    /// Commits every open pool every few seconds, as ZFS closes a transaction group: an initiator that never flushes
    /// (qemu-img's default cache mode) loses at most those seconds to a crash, not everything since it attached.
    /// A commit with nothing written costs nothing.
    /// </summary>
    private async Task CommitLoopAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(_options.CommitInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                await _hosting.WaitAsync(ct).ConfigureAwait(false);
                try
                {
                    foreach (var pool in _pools.Open)
                    {
                        try
                        {
                            await pool.CommitAsync().ConfigureAwait(false);
                        }
                        catch (Exception e) when (e is PoolException or IOException)
                        {
                            Log($"pool {pool.Name}: commit failed: {e.Message}");
                        }
                    }
                }
                finally
                {
                    _hosting.Release();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Log(string message) => _options.Log($"node {_options.Name}: {message}");

    private async Task RunAsync(CancellationToken ct)
    {
        bool warned = false;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var lease = await _client.RegisterAsync(Name, new NodeRegistration(Portal[..Portal.LastIndexOf(':')], Portal, _options.SparseFileBytes, ControlPlaneServices.Version), ct).ConfigureAwait(false);
                Registered = true;
                _lease = lease.Lease;
                warned = false;
                Log($"registered with {_options.Control} (lease {lease.Lease:x})");
                using var session = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var heartbeat = HeartbeatAsync(lease, session);
                try
                {
                    await SyncLoopAsync(session.Token).ConfigureAwait(false);
                }
                finally
                {
                    await session.CancelAsync().ConfigureAwait(false);
                    await heartbeat.ConfigureAwait(false);
                    Registered = false;
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is ControlClientException or OperationCanceledException)
            {
                if (!warned)
                {
                    Log($"{e.Message}; retrying");
                    warned = true;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(500), ct).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // A bug or an unexpected I/O error must not leave the node silently dead: say it, register again.
                Log($"unexpected failure, registering again: {e}");
                await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Renews the lease until the session ends; a refused renewal (the lease lapsed) ends the session so the node registers again.</summary>
    private async Task HeartbeatAsync(NodeLease lease, CancellationTokenSource session)
    {
        try
        {
            while (!session.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(lease.HeartbeatSeconds), session.Token).ConfigureAwait(false);
                bool alive;
                try
                {
                    alive = await _client.HeartbeatAsync(Name, lease.Lease, session.Token).ConfigureAwait(false);
                }
                catch (ControlClientException e)
                {
                    Log($"heartbeat failed: {e.Message}");
                    continue;
                }

                if (!alive)
                {
                    Log("the control plane let the lease lapse; registering again");
                    await session.CancelAsync().ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Fetches what is placed here (a long-poll that returns on any change), makes it so, and reports.</summary>
    private async Task SyncLoopAsync(CancellationToken ct)
    {
        long since = 0;
        _disks = null;
        while (!ct.IsCancellationRequested)
        {
            var assignments = await _client.AssignmentsAsync(Name, since, (int)_options.ReportInterval.TotalSeconds, ct).ConfigureAwait(false);
            await HostAsync(assignments).ConfigureAwait(false);
            since = assignments.Revision;
            if (!await _client.ReportAsync(Name, BuildReport(), ct).ConfigureAwait(false))
            {
                Log("the control plane refused the report (lease lapsed); registering again");
                return;
            }
        }
    }

    /// <summary>Makes this node host exactly what is assigned to it.</summary>
    private async Task HostAsync(NodeAssignments assignments)
    {
        await _hosting.WaitAsync().ConfigureAwait(false);
        try
        {
            _assigned = assignments;
            var deletingVolumes = assignments.Replicas.Where(r => r.Metadata.DeletionTimestamp is not null).Select(r => r.Spec.Volume).ToHashSet(StringComparer.Ordinal);

            // Targets first: a target that should stop lets its volume be deleted below.
            foreach (string volume in _targets.Volumes.ToList())
            {
                var v = assignments.Targets.FirstOrDefault(t => t.Metadata.Name == volume);
                if (v is null || v.Metadata.DeletionTimestamp is not null || v.Status.Phase == "Released" || deletingVolumes.Contains(volume))
                {
                    await _targets.StopAsync(volume).ConfigureAwait(false);
                }
            }

            foreach (var pool in assignments.Pools.Where(p => p.Metadata.DeletionTimestamp is null))
            {
                await _pools.EnsureAsync(pool).ConfigureAwait(false);
            }

            foreach (var replica in assignments.Replicas)
            {
                try
                {
                    await HostReplicaAsync(replica).ConfigureAwait(false);
                }
                catch (PoolException e)
                {
                    Log($"replica {replica.Metadata.Name}: {e.Message}");
                    _replicaFailures[replica.Metadata.Name] = e.Message;
                }
            }

            foreach (var volume in assignments.Targets.Where(v => v.Metadata.DeletionTimestamp is null && v.Status.Phase != "Released" && !deletingVolumes.Contains(v.Metadata.Name)))
            {
                ServeTarget(volume);
            }

            foreach (var pool in assignments.Pools.Where(p => p.Metadata.DeletionTimestamp is not null))
            {
                if (assignments.Replicas.Any(r => r.Spec.Pool == pool.Metadata.Name))
                {
                    continue; // its replicas go first
                }

                await _pools.DestroyAsync(pool).ConfigureAwait(false);
                await _client.FinalizeAsync(Name, new NodeFinalization(ResourceKind.StoragePool.Kind, pool.Metadata.Name)).ConfigureAwait(false);
            }

            if (_disks is null || DateTime.UtcNow - _discovered > TimeSpan.FromSeconds(30))
            {
                _disks = _options.DiscoverDisks ? Discover() : [];
                _discovered = DateTime.UtcNow;
            }
        }
        finally
        {
            _hosting.Release();
        }
    }

    private async Task HostReplicaAsync(VolumeReplica replica)
    {
        var pool = _pools.Find(replica.Spec.Pool);
        if (pool is null)
        {
            return; // reported Failed/Pending with the pool's reason
        }

        string volume = replica.Spec.Volume;
        if (replica.Metadata.DeletionTimestamp is not null)
        {
            if (pool.FindVolume(volume) is not null)
            {
                await pool.DeleteAsync(volume).ConfigureAwait(false);
                Log($"replica {replica.Metadata.Name}: volume deleted from pool {pool.Name}");
            }

            await _client.FinalizeAsync(Name, new NodeFinalization(ResourceKind.VolumeReplica.Kind, replica.Metadata.Name)).ConfigureAwait(false);
            return;
        }

        if (pool.FindVolume(volume) is null)
        {
            try
            {
                await pool.CreateVolumeAsync(volume, replica.Spec.SizeBytes).ConfigureAwait(false);
                Log($"replica {replica.Metadata.Name}: {replica.Spec.SizeBytes >> 20} MiB volume made in pool {pool.Name}");
            }
            catch (PoolException e)
            {
                Log($"replica {replica.Metadata.Name}: {e.Message}");
                _replicaFailures[replica.Metadata.Name] = e.Message;
                return;
            }
        }

        _replicaFailures.Remove(replica.Metadata.Name);
    }

    private void ServeTarget(Volume volume)
    {
        var first = volume.Spec.Replicas.FirstOrDefault();
        if (first is null || first.Node != Name || _targets.IsServing(volume.Metadata.Name))
        {
            return;
        }

        var pool = _pools.Find(first.Pool);
        if (pool?.FindVolume(volume.Metadata.Name) is null)
        {
            return;
        }

        _targets.Serve(volume.Metadata.Name, volume.Spec.Iscsi.Iqn, pool);
    }

    private NodeReport BuildReport()
    {
        var assigned = _assigned!;
        var pools = assigned.Pools.Where(p => p.Metadata.DeletionTimestamp is null).Select(_pools.Report).ToList();
        var replicas = new List<ReplicaReport>();
        foreach (var r in assigned.Replicas.Where(r => r.Metadata.DeletionTimestamp is null))
        {
            var pool = _pools.Find(r.Spec.Pool);
            var info = pool?.FindVolume(r.Spec.Volume);
            replicas.Add(info is null
                ? new ReplicaReport(r.Metadata.Name, pool is null || _replicaFailures.ContainsKey(r.Metadata.Name) ? "Failed" : "Pending", 0, 0,
                    pool is null ? $"pool {r.Spec.Pool} is not open: {_pools.Failure(r.Spec.Pool) ?? "being made"}" : _replicaFailures.GetValueOrDefault(r.Metadata.Name) ?? "being made")
                : new ReplicaReport(r.Metadata.Name, "Healthy", info.ReferencedChunks * pool!.ChunkSize, info.UniqueChunks * pool.ChunkSize, $"volume in pool {pool.Name}"));
        }

        var targets = assigned.Targets.Where(v => v.Metadata.DeletionTimestamp is null).Select(v =>
        {
            bool serving = _targets.IsServing(v.Metadata.Name);
            var first = v.Spec.Replicas.FirstOrDefault();
            string? why = serving ? null
                : first is not null && first.Node != Name ? $"its first replica is on node {first.Node}, and serving a remote replica needs replication"
                : "waiting for its replica's volume";
            return new TargetReport(v.Metadata.Name, serving, Portal, why);
        }).ToList();
        return new NodeReport(pools, replicas, targets, _disks);
    }

    private List<BlockDeviceSpec> Discover()
    {
        try
        {
            return new DiskDiscovery(_options.Discovery).Discover().Select(d => new BlockDeviceSpec
            {
                Node = Name,
                Path = d.Path,
                CapacityBytes = d.SizeBytes,
                LogicalSectorSize = d.LogicalSectorSize,
                Model = d.Model,
                Serial = d.Serial,
                Vendor = d.Vendor,
                DeviceType = d.DeviceType,
                Partitioned = d.Partitioned,
                MountPoint = d.MountPoint,
                Unusable = d.UnusableReason,
                FileSystem = d.FileSystem,
            }).ToList();
        }
        catch (IOException e)
        {
            Log($"disk discovery failed: {e.Message}");
            return [];
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_run, _commits).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        if (_lease != 0)
        {
            // A clean stop gives the lease back (after the loops ended, so nothing registers again): the cluster
            // knows at once instead of after the lease's TTL.
            try
            {
                using var quick = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _client.DeregisterAsync(Name, _lease, quick.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ControlClientException or OperationCanceledException)
            {
                Log($"could not give the lease back ({e.Message}); it lapses on its own");
            }
        }

        await _targets.DisposeAsync().ConfigureAwait(false);
        await _pools.DisposeAsync().ConfigureAwait(false);
        _client.Dispose();
        _stop.Dispose();
    }
}
