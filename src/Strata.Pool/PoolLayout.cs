namespace Strata.Pool;

/// <summary>How a pool spreads chunks over its vdevs (the seed's <c>poolSpec.poolType</c>).</summary>
public enum PoolLayout : byte
{
    /// <summary>Every vdev holds its own chunks; capacity is the sum; losing a vdev loses the pool.</summary>
    Striped = 1,

    /// <summary>Vdevs in pairs, every chunk on both; a pair keeps working on one vdev (Degraded).</summary>
    Mirrored = 2,
}

/// <summary>The health of a pool, as <c>get cstorpools</c> shows it.</summary>
public enum PoolHealth
{
    Online,

    /// <summary>A mirror lacks one of its vdevs: every chunk is still readable, but not redundant.</summary>
    Degraded,
}

/// <summary>The state of one vdev, as the newest superblock records it.</summary>
public enum VdevState : byte
{
    Online = 0,

    /// <summary>Failed, missing, or stale (it missed writes while away): never read until replaced.</summary>
    Faulted = 1,
}
