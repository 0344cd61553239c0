namespace Strata.Replication;

/// <summary>
/// The highest epoch a replica server has accepted for each volume, kept across restarts. A target instance takes
/// a new epoch; once a replica has stored it, a Hello with an older one is refused (Fenced), so an old target that
/// was paused or cut off can never write to it again.
/// </summary>
public interface IEpochStore
{
    /// <summary>The stored epoch of <paramref name="volumeId"/>, 0 when none was ever stored.</summary>
    ValueTask<long> GetAsync(string volumeId, CancellationToken ct = default);

    /// <summary>Stores <paramref name="epoch"/> for <paramref name="volumeId"/>; durable when the call completes.</summary>
    ValueTask SetAsync(string volumeId, long epoch, CancellationToken ct = default);
}
