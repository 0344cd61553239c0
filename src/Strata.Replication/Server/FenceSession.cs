namespace Strata.Replication.Server;

/// <summary>
/// One holder of a volume's epoch on a replica server: a connection that said Hello, or an in-process
/// <see cref="LocalReplica"/>. Its device calls run only while the <see cref="VolumeFence"/> admits them, so a newer
/// epoch fences both kinds alike.
/// </summary>
internal sealed class FenceSession(VolumeFence fence, long epoch)
{
    public VolumeFence Fence { get; } = fence;

    /// <summary>The epoch its Hello was accepted with.</summary>
    public long Epoch { get; } = epoch;

    /// <summary>Device calls started and not finished (guarded by the fence's lock).</summary>
    public int DeviceCalls { get; set; }

    /// <summary>Completed when <see cref="DeviceCalls"/> reaches zero (guarded by the fence's lock).</summary>
    public TaskCompletionSource? Drained { get; set; }

    /// <summary>Set when it is ending: it starts no more device calls (guarded by the fence's lock).</summary>
    public bool Closed { get; set; }

    /// <summary>The write-intent generation of the newest Flush of this session that completed (1: none yet); what
    /// its Settle clears up to.</summary>
    public int FlushedGeneration => Volatile.Read(ref _flushed);

    private int _flushed = 1;

    /// <summary>A Flush received at write-intent generation <paramref name="generation"/> completed.</summary>
    public void Flushed(int generation)
    {
        int seen = Volatile.Read(ref _flushed);
        while (seen < generation && Interlocked.CompareExchange(ref _flushed, generation, seen) is var was && was != seen)
        {
            seen = was;
        }
    }

    /// <summary>Whether a newer epoch reached the volume: no call of this session runs again.</summary>
    public bool IsFenced => Epoch < Fence.Epoch;

    /// <summary>Starts a device call: false when the session is fenced or closed.</summary>
    public bool TryBegin() => Fence.TryBegin(this);

    public void End() => Fence.End(this);

    /// <summary>Why a call of a fenced session is refused, as the replica protocol's Fenced answer says it.</summary>
    public string FencedMessage() => $"epoch {Epoch} is older than {Fence.Epoch}: a newer target owns volume {Fence.VolumeId}";
}
