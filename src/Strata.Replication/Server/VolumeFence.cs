namespace Strata.Replication.Server;

/// <summary>
/// One volume's epoch on a replica server and the connections that serve it. A request runs only while its
/// connection's epoch is the volume's newest (<see cref="TryBegin"/>); a Hello with a newer epoch stores it, then
/// waits for the device calls that older connections have in flight to finish before it answers, so once a target
/// holds HelloOk no write of an older target lands after it.
/// </summary>
internal sealed class VolumeFence(string volumeId)
{
    private readonly List<ReplicaConnection> _connections = [];

    public string VolumeId { get; } = volumeId;

    /// <summary>Serialises Hellos for the volume: reading, storing and raising the epoch.</summary>
    public SemaphoreSlim HelloGate { get; } = new(1, 1);

    /// <summary>The highest epoch accepted, or -1 until it is read from the store (under <see cref="HelloGate"/>).</summary>
    public long Epoch
    {
        get
        {
            lock (_connections)
            {
                return _epoch;
            }
        }
    }

    private long _epoch = -1;

    /// <summary>
    /// Makes <paramref name="epoch"/> (already stored) the volume's, adds <paramref name="connection"/>, and returns
    /// what to wait for: the device calls in flight on connections of older epochs.
    /// </summary>
    public Task Accept(ReplicaConnection connection, long epoch)
    {
        List<Task>? drains = null;
        lock (_connections)
        {
            _epoch = Math.Max(_epoch, epoch);
            _connections.Add(connection);
            foreach (var c in _connections)
            {
                if (c.Epoch < epoch && c.DeviceCalls > 0)
                {
                    c.Drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    (drains ??= []).Add(c.Drained.Task);
                }
            }
        }

        return drains is null ? Task.CompletedTask : Task.WhenAll(drains);
    }

    /// <summary>Sets the epoch read from the store, the first time the volume is seen.</summary>
    public void Load(long stored)
    {
        lock (_connections)
        {
            if (_epoch < 0)
            {
                _epoch = stored;
            }
        }
    }

    public void Remove(ReplicaConnection connection)
    {
        lock (_connections)
        {
            _connections.Remove(connection);
        }
    }

    /// <summary>Starts a device call of <paramref name="connection"/>: false when a newer epoch fenced it.</summary>
    public bool TryBegin(ReplicaConnection connection)
    {
        lock (_connections)
        {
            if (connection.Epoch < _epoch)
            {
                return false;
            }

            connection.DeviceCalls++;
            return true;
        }
    }

    public void End(ReplicaConnection connection)
    {
        TaskCompletionSource? drained = null;
        lock (_connections)
        {
            if (--connection.DeviceCalls == 0 && connection.Drained is { } d)
            {
                connection.Drained = null;
                drained = d;
            }
        }

        drained?.TrySetResult();
    }
}
