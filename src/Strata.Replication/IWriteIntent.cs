using Strata.Replication.Volume;

namespace Strata.Replication;

/// <summary>
/// A replica's write-intent log as its target reaches it (<see cref="ReplicaClient"/>, <see cref="LocalReplica"/>):
/// which regions may hold changes not yet settled, and settling them (docs/replication.md, "The write-intent log").
/// </summary>
public interface IWriteIntent
{
    /// <summary>The set regions of the replica's write-intent bitmap.</summary>
    Task<WriteIntent> GetIntentAsync(CancellationToken ct = default);

    /// <summary>
    /// Says that the last flush this session saw complete had completed on every replica: the replica clears the
    /// regions with no change in flight and none since that flush.
    /// </summary>
    ValueTask SettleAsync(CancellationToken ct = default);
}

/// <summary>A replica's write-intent bitmap: regions of <paramref name="RegionBytes"/>, those set in <paramref name="Set"/>.</summary>
/// <param name="Recovered">Regions were set when the replica server opened the bitmap: it stopped or crashed with
/// changes unsettled, and may have lost what its volatile cache held.</param>
public sealed record WriteIntent(int RegionBytes, long Regions, bool Recovered, SparseBitmap Set)
{
    /// <summary>Marks in <paramref name="grains"/> every grain of <paramref name="grainBytes"/> that a set region covers.</summary>
    public void MarkGrains(SparseBitmap grains, long grainBytes)
    {
        for (long r = Set.NextSet(0); r >= 0; r = Set.NextSet(r + 1))
        {
            long firstByte = r * RegionBytes;
            long first = firstByte / grainBytes;
            long end = (firstByte + RegionBytes + grainBytes - 1) / grainBytes;
            grains.Set(first, end - first);
        }
    }
}
