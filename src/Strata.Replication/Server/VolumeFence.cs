namespace Strata.Replication.Server;

/// <summary>
/// One volume's epoch on a replica server and the sessions that serve it (connections, and in-process
/// <see cref="LocalReplica"/>s). A device call runs only while its session's epoch is the volume's newest
/// (<see cref="TryBegin"/>); a Hello with a newer epoch stores it, then waits for the device calls that older
/// sessions have in flight to finish before it answers, so once a target holds HelloOk no write of an older target
/// lands after it.
/// </summary>
internal sealed class VolumeFence(string volumeId)
{
    private readonly List<FenceSession> _sessions = [];

    public string VolumeId { get; } = volumeId;

    /// <summary>Serialises Hellos for the volume: reading, storing and raising the epoch.</summary>
    public SemaphoreSlim HelloGate { get; } = new(1, 1);

    /// <summary>The highest epoch accepted, or -1 until it is read from the store (under <see cref="HelloGate"/>).</summary>
    public long Epoch
    {
        get
        {
            lock (_sessions)
            {
                return _epoch;
            }
        }
    }

    private long _epoch = -1;

    /// <summary>
    /// Makes <paramref name="session"/>'s epoch (already stored) the volume's, adds the session, and returns what to
    /// wait for: the device calls in flight on sessions of older epochs.
    /// </summary>
    public Task Accept(FenceSession session)
    {
        List<Task>? drains = null;
        lock (_sessions)
        {
            _epoch = Math.Max(_epoch, session.Epoch);
            _sessions.Add(session);
            foreach (var s in _sessions)
            {
                if (s.Epoch < session.Epoch && s.DeviceCalls > 0)
                {
                    (drains ??= []).Add(DrainOf(s));
                }
            }
        }

        return drains is null ? Task.CompletedTask : Task.WhenAll(drains);
    }

    /// <summary>Sets the epoch read from the store, the first time the volume is seen.</summary>
    public void Load(long stored)
    {
        lock (_sessions)
        {
            if (_epoch < 0)
            {
                _epoch = stored;
            }
        }
    }

    public void Remove(FenceSession session)
    {
        lock (_sessions)
        {
            _sessions.Remove(session);
        }
    }

    /// <summary>
    /// Ends <paramref name="session"/>: it starts no more device calls, and it leaves the volume once those in flight
    /// are done (until then a newer Hello still waits for them).
    /// </summary>
    public async Task LeaveAsync(FenceSession session)
    {
        Task drained;
        lock (_sessions)
        {
            session.Closed = true;
            drained = session.DeviceCalls > 0 ? DrainOf(session) : Task.CompletedTask;
        }

        await drained.ConfigureAwait(false);
        Remove(session);
    }

    /// <summary>Starts a device call of <paramref name="session"/>: false when a newer epoch fenced it or it is closed.</summary>
    public bool TryBegin(FenceSession session)
    {
        lock (_sessions)
        {
            if (session.Epoch < _epoch || session.Closed)
            {
                return false;
            }

            session.DeviceCalls++;
            return true;
        }
    }

    public void End(FenceSession session)
    {
        TaskCompletionSource? drained = null;
        lock (_sessions)
        {
            if (--session.DeviceCalls == 0 && session.Drained is { } d)
            {
                session.Drained = null;
                drained = d;
            }
        }

        drained?.TrySetResult();
    }

    /// <summary>Completes when the session's device calls in flight are done (under the lock, with some in flight).</summary>
    private static Task DrainOf(FenceSession session)
    {
        session.Drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return session.Drained.Task;
    }
}
