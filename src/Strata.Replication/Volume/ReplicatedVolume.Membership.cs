namespace Strata.Replication.Volume;

// Who is in the set: opening, a replica failing, recording the in-sync set in the store, and waiting for it.
public sealed partial class ReplicatedVolume
{
    /// <summary>The in-sync set as the store holds it (after this target's last successful compare-and-swap). Under <see cref="_gate"/>.</summary>
    private List<string> _recorded;

    /// <summary>Replicas still recorded in sync that this target has taken out: no write may be acknowledged while any.</summary>
    private volatile int _pendingRemovals;

    private TaskCompletionSource _changed = NewSignal();
    private bool _recorderRunning;
    private string? _storeProblem;
    private Task _supervisor = Task.CompletedTask;

    /// <summary>
    /// Opens every replica at <see cref="ReplicatedVolumeOptions.Epoch"/> and starts serving from the in-sync ones
    /// reachable within <see cref="ReplicatedVolumeOptions.OpenWait"/>; the others are taken out of the set and
    /// rebuilt when they come back. Before it returns, the reachable in-sync replicas are made identical where their
    /// write-intent logs say the last target may have left them different, and in-sync replicas out of reach are given
    /// those regions to catch up with (<see cref="ReconcileAtOpenAsync"/>). Replicas not in the set at open get a full
    /// copy: nothing tells what they lack.
    /// </summary>
    /// <exception cref="BlockDeviceException">Unavailable: no in-sync replica could be opened; Fenced: a newer epoch reached one.</exception>
    public static async Task<ReplicatedVolume> OpenAsync(ReplicatedVolumeOptions options, IReplicaConnector connector, IMembershipStore store, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Replicas.Count == 0 || options.InSync.Count == 0 || options.InSync.Any(r => !options.Replicas.Contains(r)))
        {
            throw new ArgumentException($"volume {options.VolumeId}: the in-sync set ({string.Join(", ", options.InSync)}) must be a non-empty subset of the replicas ({string.Join(", ", options.Replicas)})", nameof(options));
        }

        using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
        wait.CancelAfter(options.OpenWait);
        // Once one replica has opened, the others get OpenGrace more, whether they refuse connections (a node still
        // starting) or accept and never answer (a frozen node, a node cut off mid-handshake): a dead replica must not
        // hold the volume up for the whole OpenWait.
        using var grace = CancellationTokenSource.CreateLinkedTokenSource(wait.Token);
        int graceStarted = 0;
        var opening = options.Replicas.Select(async name =>
        {
            while (true)
            {
                try
                {
                    var device = await connector.ConnectAsync(name, grace.Token).ConfigureAwait(false);
                    if (Interlocked.Exchange(ref graceStarted, 1) == 0)
                    {
                        grace.CancelAfter(OpenGrace);
                    }

                    return (name, Device: (IBlockDevice?)device, Error: (Exception?)null);
                }
                catch (BlockDeviceException e) when (e.Kind == BlockDeviceErrorKind.Unavailable && !grace.IsCancellationRequested)
                {
                    // Not listening yet, perhaps: try again.
                    try
                    {
                        await Task.Delay(options.ReconnectInterval, grace.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        return (name, Device: null, Error: e);
                    }
                }
                catch (Exception e) when (e is BlockDeviceException or OperationCanceledException && !ct.IsCancellationRequested)
                {
                    return (name, Device: null, Error: e is not OperationCanceledException ? e
                        : wait.IsCancellationRequested ? new TimeoutException($"not reachable within {options.OpenWait.TotalSeconds:0.#} s")
                        : new TimeoutException($"not reachable within {OpenGrace.TotalSeconds:0.#} s of another replica opening"));
                }
            }
        }).ToList();
        var opened = await Task.WhenAll(opening).ConfigureAwait(false);

        var fenced = opened.FirstOrDefault(o => o.Error is BlockDeviceException { Kind: BlockDeviceErrorKind.Fenced });
        var geometry = opened.FirstOrDefault(o => o.Device is not null && options.InSync.Contains(o.name)).Device;
        if (fenced.Error is not null || geometry is null)
        {
            foreach (var o in opened.Where(o => o.Device is not null))
            {
                await o.Device!.DisposeAsync().ConfigureAwait(false);
            }

            throw fenced.Error is not null
                ? new BlockDeviceException(BlockDeviceErrorKind.Fenced, $"volume {options.VolumeId}: replica {fenced.name} has seen a newer epoch than {options.Epoch}: {fenced.Error.Message}")
                : new BlockDeviceException(BlockDeviceErrorKind.Unavailable, $"volume {options.VolumeId}: no in-sync replica could be opened: " +
                    string.Join("; ", opened.Where(o => options.InSync.Contains(o.name)).Select(o => $"{o.name}: {o.Error?.Message}")));
        }

        var volume = new ReplicatedVolume(options, connector, store, geometry.BlockSize, geometry.BlockCount);
        lock (volume._gate)
        {
            foreach (var (name, device, error) in opened)
            {
                var member = volume.Member(name);
                bool inSync = options.InSync.Contains(name);
                string? mismatch = device is null ? null : volume.Mismatch(device);
                if (!inSync || device is null || mismatch is not null)
                {
                    // Nothing tells what it lacks yet: not in the set (a full copy), or in it but out of reach now
                    // (it may have lost what its cache held, and the last target's in-flight writes are unknown):
                    // the reachable replicas' write-intent regions may bound that (ReconcileAtOpenAsync).
                    member.NeedsFullCopy = true;
                    member.Missing.Set(0, volume.Grains);
                    member.IntentUnread = inSync && device is null;
                }

                if (!inSync && options.RebuildCheckpoints.TryGetValue(name, out long copied))
                {
                    // A previous target's rebuild made it whole this far (docs/replication.md, "Resuming a rebuild"):
                    // it resumes there, plus where the replicas may differ (U) and its own unsettled regions. The
                    // store keeps the checkpoint until this target clears it, which it must before acknowledging a
                    // write the replica misses (Publish counts it).
                    member.CheckpointStored = copied;
                    if (mismatch is null)
                    {
                        member.ResumeFromGrain = Math.Clamp(copied / volume.GrainBytes, 0, volume.Grains);
                        member.IntentUnread = true;
                        options.Log($"volume {options.VolumeId}: replica {name} resumes its rebuild at {copied >> 20} MiB of {(volume.BlockCount * volume.BlockSize) >> 20} MiB, where the last target recorded it");
                    }
                }

                if (device is not null && mismatch is null)
                {
                    member.Device = device;
                    member.Role = inSync ? ReplicaRole.InSync : ReplicaRole.Rebuilding;
                    member.WantInSync = inSync;
                }
                else
                {
                    member.Reason = mismatch ?? error?.Message;
                    if (device is not null)
                    {
                        _ = device.DisposeAsync().AsTask();
                    }
                }
            }

            volume.Publish();
        }

        try
        {
            await volume.ReconcileAtOpenAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            await volume.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        options.Log($"volume {options.VolumeId}: opened at epoch {options.Epoch}: " + string.Join(", ", volume.Replicas.Select(r => $"{r.Name} {r.Role}{(r.Reason is null ? "" : $" ({r.Reason})")}")));
        volume.KickRecorder();
        volume._supervisor = Task.Run(() => volume.SuperviseAsync(volume._stop.Token));
        return volume;
    }

    /// <summary>How long replicas that cannot be reached yet are waited for at open once one has opened.</summary>
    private static readonly TimeSpan OpenGrace = TimeSpan.FromSeconds(3);

    private ReplicaMember Member(string name) => Array.Find(_members, m => m.Name == name)!;

    private string? Mismatch(IBlockDevice device) =>
        device.BlockSize == BlockSize && device.BlockCount == BlockCount ? null
            : $"its geometry ({device.BlockCount} blocks of {device.BlockSize} bytes) differs from the volume's ({BlockCount} of {BlockSize})";

    /// <summary>
    /// <paramref name="member"/> failed a call: out of the set at once (I/O stops going to it), its missing grains
    /// noted (the call's, and whatever it may not have made durable), its removal recorded in the background.
    /// </summary>
    private void Failed(ReplicaMember member, BlockDeviceException error, long lba, long blocks)
    {
        if (error.Kind == BlockDeviceErrorKind.Fenced)
        {
            Fence($"replica {member.Name} has seen a newer epoch than this target's {Epoch}: {error.Message}");
            return;
        }

        IBlockDevice? device;
        lock (_gate)
        {
            if (member.Removed)
            {
                return; // its connection was closed on purpose: nothing failed
            }

            if (blocks > 0)
            {
                member.Missing.Set(lba / _grainBlocks, GrainSpan(lba, blocks));
            }

            if (member.Device is null)
            {
                return;
            }

            // Offline before the unflushed grains are copied: a write completing in between sees the role and
            // marks itself missing (FanOutAsync), or was marked unflushed before the copy.
            member.Role = ReplicaRole.Offline;
            Interlocked.MemoryBarrier();
            _unflushed.CopyTo(member.Missing);
            member.WantInSync = false;
            member.CheckpointWanted = null;
            member.Reason = member.LastError = $"{error.Kind}: {error.Message}";
            member.ConsecutiveFailures++;
            Interlocked.Increment(ref member.Failures);
            device = member.Device;
            member.Device = null;
            Publish();
        }

        _options.Log($"volume {VolumeId}: replica {member.Name} failed ({error.Kind}: {error.Message}); out of the in-sync set");
        _ = CloseQuietlyAsync(device);
        KickRecorder();
    }

    private static async Task CloseQuietlyAsync(IBlockDevice device)
    {
        try
        {
            await device.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is BlockDeviceException or IOException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }

    private void Fence(string reason)
    {
        if (Interlocked.CompareExchange(ref _fenced, reason, null) is not null)
        {
            return;
        }

        _options.Log($"volume {VolumeId}: fenced: {reason}");
        Signal();
        Fenced?.Invoke(reason);
    }

    /// <summary>Makes a new <see cref="View"/> from the members' roles and recounts what must be recorded first. Under <see cref="_gate"/>.</summary>
    private void Publish()
    {
        _view = new View(
            _members.Where(m => m.Role == ReplicaRole.InSync && m.Device is not null).ToArray(),
            _members.Where(m => m.Role != ReplicaRole.Offline && m.Device is not null).ToArray(),
            _members.Where(m => m.Role == ReplicaRole.Offline || m.Device is null).ToArray());
        Recount();
    }

    /// <summary>
    /// Recounts what must be recorded before a change may be acknowledged: replicas recorded in sync that this target
    /// took out, and checkpoints the store may hold for replicas that miss changes now. Under <see cref="_gate"/>.
    /// </summary>
    private void Recount()
    {
        _pendingRemovals = _recorded.Count(name => Array.Find(_members, m => m.Name == name) is not { WantInSync: true })
            + _members.Count(m => m.CheckpointStored is not null && !m.Removed && (m.Role == ReplicaRole.Offline || m.Device is null));
        Signal();
    }

    private void Signal()
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            changed = _changed;
            _changed = NewSignal();
        }

        changed.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private Task Changed
    {
        get
        {
            lock (_gate)
            {
                return _changed.Task;
            }
        }
    }

    /// <summary>The view, once it has an in-sync replica (waiting up to <see cref="ReplicatedVolumeOptions.OpenWait"/> for one to return).</summary>
    private ValueTask<View> InSyncViewAsync(CancellationToken ct)
    {
        var view = _view;
        return view.InSync.Length > 0 ? ValueTask.FromResult(view) : WaitForInSyncAsync(ct);
    }

    private async ValueTask<View> WaitForInSyncAsync(CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + _options.OpenWait;
        while (true)
        {
            ThrowIfFenced();
            var changed = Changed;
            var view = _view;
            if (view.InSync.Length > 0)
            {
                return view;
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !await WaitAsync(changed, left, ct).ConfigureAwait(false))
            {
                throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable, $"volume {VolumeId}: no in-sync replica is reachable: {Why()}");
            }
        }
    }

    /// <summary>Completes when a change may be acknowledged: no removal left to record, and enough replicas in sync.</summary>
    private ValueTask AcknowledgeableAsync(CancellationToken ct) =>
        _pendingRemovals == 0 && _view.InSync.Length >= _options.MinInSync && _fenced is null ? ValueTask.CompletedTask : WaitAcknowledgeableAsync(ct);

    private async ValueTask WaitAcknowledgeableAsync(CancellationToken ct)
    {
        var start = DateTime.UtcNow;
        while (true)
        {
            ThrowIfFenced();
            var changed = Changed;
            bool recording = _pendingRemovals != 0;
            int inSync = _view.InSync.Length;
            if (!recording && inSync >= _options.MinInSync)
            {
                return;
            }

            var limit = recording ? _options.MembershipWait : _options.MinInSyncWait;
            var left = start + limit - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !await WaitAsync(changed, left, ct).ConfigureAwait(false))
            {
                throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable, recording
                    ? $"volume {VolumeId}: could not record a failed replica out of the in-sync set within {limit.TotalSeconds:0.#} s ({_storeProblem ?? "no answer"}); nothing is acknowledged until it is"
                    : $"volume {VolumeId}: {inSync} replica(s) in sync, fewer than the {_options.MinInSync} required, for {limit.TotalSeconds:0.#} s: {Why()}");
            }
        }
    }

    private static async Task<bool> WaitAsync(Task changed, TimeSpan timeout, CancellationToken ct)
    {
        try
        {
            await changed.WaitAsync(timeout, ct).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private string Why() => string.Join("; ", Replicas.Where(r => r.Role != ReplicaRole.InSync).Select(r => $"{r.Name} {r.Role}{(r.Reason is null ? "" : $": {r.Reason}")}"));

    private void KickRecorder()
    {
        lock (_gate)
        {
            if (_recorderRunning)
            {
                return; // the running recorder looks again before it stops
            }

            _recorderRunning = true;
        }

        _ = Task.Run(RecordAsync);
    }

    /// <summary>
    /// Brings the store's in-sync set to the replicas this target wants in it, by compare-and-swap, until they agree.
    /// Never records an empty set: when every replica has failed, the last set stays (any of them holds every
    /// acknowledged write) until one returns.
    /// </summary>
    private async Task RecordAsync()
    {
        var backoff = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            List<string> expected;
            List<string> desired;
            (ReplicaMember Member, long? Wanted)? checkpoint = null;
            lock (_gate)
            {
                desired = _members.Where(m => m.WantInSync).Select(m => m.Name).ToList();
                bool setRecorded = desired.Count == 0 || SameSet(desired, _recorded);
                if (setRecorded && _members.FirstOrDefault(m => !m.Removed && m.CheckpointWanted != m.CheckpointStored) is { } next)
                {
                    checkpoint = (next, next.CheckpointWanted);
                    if (next.CheckpointWanted is { } wanted)
                    {
                        // From the moment it is sent the store may hold it: counted as held (Publish) if the replica
                        // fails before the answer.
                        next.CheckpointStored = wanted;
                        Recount();
                    }
                }

                if (_fenced is not null || _stop.IsCancellationRequested || (setRecorded && checkpoint is null))
                {
                    _recorderRunning = false;
                    _storeProblem = null;
                    return;
                }

                expected = [.. _recorded];
            }

            try
            {
                if (checkpoint is { } c)
                {
                    await _store.SetRebuildCheckpointAsync(Epoch, c.Member.Name, c.Wanted, _stop.Token).ConfigureAwait(false);
                    lock (_gate)
                    {
                        c.Member.CheckpointStored = c.Wanted;
                        _storeProblem = null;
                        Recount();
                    }

                    backoff = TimeSpan.FromMilliseconds(50);
                    continue;
                }

                var stored = await _store.CompareAndSetInSyncAsync(Epoch, expected, desired, _stop.Token).ConfigureAwait(false);
                lock (_gate)
                {
                    _recorded = [.. stored];
                    _storeProblem = null;
                    foreach (var member in _members)
                    {
                        bool recorded = stored.Contains(member.Name);
                        if (recorded && member.WantInSync && member.Role == ReplicaRole.Rebuilding)
                        {
                            member.Role = ReplicaRole.InSync;
                            member.Reason = null;
                            member.NeedsFullCopy = false;
                            member.ConsecutiveFailures = 0;

                            // A change of its membership cleared its checkpoint in the store (IMembershipStore).
                            member.CheckpointStored = member.CheckpointWanted = member.ResumeFromGrain = null;
                            _options.Log($"volume {VolumeId}: replica {member.Name} is in sync again");
                        }
                    }

                    Publish();
                }

                if (SameSet(stored, expected) && !SameSet(stored, desired))
                {
                    // The store kept the set as it was without anyone changing it: it declined part of the change
                    // (a replica the control plane removed from the volume, which this target has yet to remove).
                    // Asking again at once would only spin; the removal comes soon.
                    await PauseAsync(backoff).ConfigureAwait(false);
                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
                    continue;
                }

                backoff = TimeSpan.FromMilliseconds(50);
            }
            catch (MembershipFencedException e)
            {
                Fence(e.Message);
                lock (_gate)
                {
                    _recorderRunning = false;
                }

                return;
            }
            catch (Exception e) when (e is MembershipUnavailableException or OperationCanceledException)
            {
                lock (_gate)
                {
                    _storeProblem = e.Message;
                }

                Signal();
                await PauseAsync(backoff).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
            }
        }
    }

    private async Task PauseAsync(TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, _stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static bool SameSet(IReadOnlyCollection<string> a, IReadOnlyCollection<string> b) => a.Count == b.Count && a.All(b.Contains);
}
