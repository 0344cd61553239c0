using System.Collections.Concurrent;
using Strata.Blocks;
using Strata.Control;
using Strata.Control.Api;
using Strata.Control.Nodes;
using Strata.Control.Resources;
using Strata.Node.Discovery;
using Strata.Node.Hosting;
using Strata.Pool;
using Strata.Replication.Volume;

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
    private readonly ReplicaService _replicaService;
    private readonly Dictionary<string, Task> _opening = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _targetFailures = new(StringComparer.Ordinal);
    private volatile Dictionary<string, string> _endpoints = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _hosting = new(1, 1);
    private readonly SemaphoreSlim _reporting = new(1, 1);
    private Task _run = Task.CompletedTask;
    private Task _commits = Task.CompletedTask;
    private NodeAssignments? _assigned;
    private List<BlockDeviceSpec>? _disks;
    private DateTime _discovered;
    private long _lease;
    private readonly Dictionary<string, string> _replicaFailures = new(StringComparer.Ordinal);

    /// <summary>Per served target, its replicas' nodes as its connector finds them; a replica added later is added here first.</summary>
    private readonly Dictionary<string, ConcurrentDictionary<string, string>> _targetReplicaNodes = new(StringComparer.Ordinal);

    public NodeAgent(NodeAgentOptions options)
    {
        _options = options;
        _client = new ControlClient(options.Control, options.Token, TimeSpan.FromSeconds(45));
        _pools = new PoolHost(options.DataDirectory, options.SparseFileBytes, Log);
        _targets = new TargetHost(options.IscsiPortal, options.AdvertiseAddress, Log);
        _replicaService = new ReplicaService(options.ReplicaListen, options.AdvertiseAddress, options.DataDirectory, Log);
    }

    public string Name => _options.Name;

    /// <summary>The iSCSI portal, address:port.</summary>
    public string Portal => _targets.Portal;

    /// <summary>The replica server's address:port.</summary>
    public string ReplicaEndpoint => _replicaService.Endpoint;

    /// <summary>True once the control plane has accepted the node's registration (and until its lease is lost).</summary>
    public bool Registered { get; private set; }

    /// <summary>Listens on the portal (failing at once if it cannot), then registers and hosts in the background.</summary>
    public void Start()
    {
        Directory.CreateDirectory(_options.DataDirectory);
        _targets.Start();
        _replicaService.Start();
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
                var lease = await _client.RegisterAsync(Name, new NodeRegistration(Portal[..Portal.LastIndexOf(':')], Portal, _options.SparseFileBytes, ControlPlaneServices.Version, ReplicaEndpoint), ct).ConfigureAwait(false);
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
            if (!await ReportAsync(ct).ConfigureAwait(false))
            {
                Log("the control plane refused the report (lease lapsed); registering again");
                return;
            }
        }
    }

    /// <summary>
    /// Sends the node's report. One at a time, each built as it is sent: the control plane never gets an older state
    /// after a newer one. False when the control plane refused it (the lease lapsed).
    /// </summary>
    private async Task<bool> ReportAsync(CancellationToken ct)
    {
        await _reporting.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await _client.ReportAsync(Name, BuildReport(), ct).ConfigureAwait(false);
        }
        finally
        {
            _reporting.Release();
        }
    }

    /// <summary>
    /// A target began to serve, or failed to: reported now rather than when the sync loop's long poll ends (up to
    /// <see cref="NodeAgentOptions.ReportInterval"/> later), so a new or moved volume shows its portal at once. A
    /// report that fails here is sent again by the sync loop.
    /// </summary>
    private void ReportSoon() => _ = Task.Run(async () =>
    {
        try
        {
            await ReportAsync(_stop.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ControlClientException or OperationCanceledException or ObjectDisposedException)
        {
        }
    });

    /// <summary>Makes this node host exactly what is assigned to it.</summary>
    private async Task HostAsync(NodeAssignments assignments)
    {
        await _hosting.WaitAsync().ConfigureAwait(false);
        try
        {
            _assigned = assignments;
            if (assignments.ReplicaEndpoints is { } endpoints)
            {
                _endpoints = endpoints;
            }
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
                ApplyReplicaChanges(volume);
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
            await _replicaService.StopAsync(volume).ConfigureAwait(false);
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
        _replicaService.Serve(volume, pool);
    }

    /// <summary>Starts opening the volume's target (in the background: reaching the replicas may take a while).</summary>
    private void ServeTarget(Volume volume)
    {
        string name = volume.Metadata.Name;
        if (_targets.IsServing(name) || _opening.TryGetValue(name, out var opening) && !opening.IsCompleted)
        {
            return;
        }

        _opening[name] = Task.Run(() => OpenTargetAsync(volume, _stop.Token));
    }

    /// <summary>
    /// One target instance: takes a new epoch (fencing every older instance), opens the replicas at it as one
    /// replicated volume, and serves it on this node's portal until it is moved away or fenced.
    /// </summary>
    private async Task OpenTargetAsync(Volume volume, CancellationToken ct)
    {
        string name = volume.Metadata.Name;
        ReplicatedVolume? device = null;
        try
        {
            var epoch = await _client.TakeEpochAsync(Name, name, ct).ConfigureAwait(false);
            var nodes = new ConcurrentDictionary<string, string>(epoch.Replicas.Select(r => KeyValuePair.Create(r.Name, r.Node)), StringComparer.Ordinal);
            var registered = epoch.Replicas.Where(r => r.Endpoint is not null).GroupBy(r => r.Node).ToDictionary(g => g.Key, g => g.First().Endpoint!, StringComparer.Ordinal);
            var connector = new ReplicaConnector(name, epoch.Epoch, nodes, node => _endpoints.GetValueOrDefault(node) ?? registered.GetValueOrDefault(node),
                Name, _replicaService.OpenLocalAsync);
            device = await ReplicatedVolume.OpenAsync(new ReplicatedVolumeOptions
            {
                VolumeId = name,
                Epoch = epoch.Epoch,
                Replicas = epoch.Replicas.Select(r => r.Name).ToList(),
                InSync = epoch.InSync,
                MinInSync = epoch.MinInSync,
                RebuildCheckpoints = epoch.RebuildCheckpoints ?? [],
                RebuildBytesPerSecond = _options.RebuildBytesPerSecond,
                PreferredReplica = epoch.Replicas.FirstOrDefault(r => r.Node == Name)?.Name,
                Log = Log,
            }, connector, new ControlMembershipStore(_client, Name, name), ct).ConfigureAwait(false);
            device.Fenced += reason => _ = StopFencedAsync(name, reason);

            await _hosting.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                var assigned = _assigned?.Targets.FirstOrDefault(t => t.Metadata.Name == name);
                if (assigned is null || assigned.Metadata.DeletionTimestamp is not null || _targets.IsServing(name))
                {
                    return; // moved away or deleted while it opened
                }

                _targets.Serve(name, volume.Spec.Iscsi.Iqn, device);
                _targetReplicaNodes[name] = nodes;
                device = null;
                lock (_targetFailures)
                {
                    _targetFailures.Remove(name);
                }

                ReportSoon();
            }
            finally
            {
                _hosting.Release();
            }
        }
        catch (Exception e) when (e is BlockDeviceException or ControlClientException or ArgumentException)
        {
            Log($"target {name}: cannot serve yet: {e.Message}");
            lock (_targetFailures)
            {
                _targetFailures[name] = e.Message;
            }

            ReportSoon();
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            if (device is not null)
            {
                await device.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Brings the replicas of the target this node serves to those the volume names now (the control plane replaced
    /// one), without stopping it. Only from a volume record of the target's own epoch: an older one (read before the
    /// target took its epoch) may name replicas it already left behind. Under <see cref="_hosting"/>.
    /// </summary>
    private void ApplyReplicaChanges(Volume volume)
    {
        string name = volume.Metadata.Name;
        if (_targets.DeviceOf(name) is not { } device || volume.Status.Epoch != device.Epoch || !_targetReplicaNodes.TryGetValue(name, out var nodes))
        {
            return;
        }

        var serving = device.Replicas.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var added in volume.Spec.Replicas.Where(r => !serving.Contains(r.Name)))
        {
            nodes[added.Name] = added.Node;
            device.AddReplica(added.Name);
        }

        foreach (string removed in serving.Where(r => volume.Spec.Replicas.All(p => p.Name != r)))
        {
            if (!device.RemoveReplica(removed))
            {
                Log($"target {name}: replica {removed} is no longer the volume's, but it is the only one in sync this target reaches; kept until another is");
            }
        }
    }

    /// <summary>A newer target instance took the volume over: this one stops serving at once.</summary>
    private async Task StopFencedAsync(string volume, string reason)
    {
        Log($"target {volume}: fenced ({reason}); no longer serving");
        await _hosting.WaitAsync().ConfigureAwait(false);
        try
        {
            await _targets.StopAsync(volume).ConfigureAwait(false);
            lock (_targetFailures)
            {
                _targetFailures[volume] = $"fenced by a newer target instance: {reason}";
            }
        }
        finally
        {
            _hosting.Release();
        }
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
            var device = _targets.DeviceOf(v.Metadata.Name);
            if (device is null)
            {
                string why;
                lock (_targetFailures)
                {
                    why = _targetFailures.GetValueOrDefault(v.Metadata.Name) ?? "opening its replicas";
                }

                return new TargetReport(v.Metadata.Name, false, Portal, why);
            }

            var syncs = device.Replicas.Select(r => new ReplicaSyncReport(r.Name, new ReplicaSync
            {
                Role = r.Role.ToString(),
                Reason = r.Reason,
                LastError = r.LastError,
                Epoch = device.Epoch,
                Rebuild = r.Rebuild is { } p ? new RebuildStatus
                {
                    Full = p.Full, BytesDone = p.BytesDone, BytesTotal = p.BytesTotal, BytesCopied = p.BytesCopied,
                    BytesPerSecond = p.BytesPerSecond, EtaSeconds = p.Eta?.TotalSeconds,
                } : null,
                LastRebuild = r.LastRebuild is { } last ? new RebuildStatus
                {
                    Full = last.Full, BytesDone = last.GrainsGoneOver * device.GrainBytes, BytesTotal = last.GrainsGoneOver * device.GrainBytes,
                    BytesCopied = last.BytesCopied, Seconds = last.Took.TotalSeconds,
                    BytesPerSecond = last.Took.TotalSeconds > 0 ? last.BytesCopied / last.Took.TotalSeconds : 0,
                } : null,
            })).ToList();
            return new TargetReport(v.Metadata.Name, true, Portal, null, device.Epoch, syncs, _targets.IoOf(v.Metadata.Name));
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

        Task[] opening;
        lock (_targetFailures)
        {
            opening = [.. _opening.Values];
        }

        await Task.WhenAll(opening).ConfigureAwait(false);
        await _targets.DisposeAsync().ConfigureAwait(false);
        await _replicaService.DisposeAsync().ConfigureAwait(false);
        await _pools.DisposeAsync().ConfigureAwait(false);
        _client.Dispose();
        _stop.Dispose();
    }
}
