namespace Strata.Replication.Volume;

/// <summary>
/// Where a volume's epoch and in-sync set are recorded (the control plane's store). A target changes the in-sync set
/// only by compare-and-swap against what it last saw, and only while its epoch is the volume's.
/// </summary>
public interface IMembershipStore
{
    /// <summary>
    /// Sets the in-sync set to <paramref name="inSync"/> if the store still holds <paramref name="epoch"/> and
    /// <paramref name="expected"/> (as sets), and returns the set the store holds afterwards: <paramref name="inSync"/>
    /// on success, or the set someone else wrote, unchanged, which the caller reconciles with and tries again.
    /// </summary>
    /// <exception cref="MembershipFencedException">The volume's epoch is no longer <paramref name="epoch"/>.</exception>
    /// <exception cref="MembershipUnavailableException">The store could not be reached or answer; the call changed nothing known.</exception>
    Task<IReadOnlyList<string>> CompareAndSetInSyncAsync(long epoch, IReadOnlyList<string> expected, IReadOnlyList<string> inSync, CancellationToken ct);

    /// <summary>
    /// Records <paramref name="copiedBytes"/> as the rebuild checkpoint of <paramref name="replica"/> (it holds every
    /// block below that offset as the in-sync replicas do, durably), or clears it when null, if the store still holds
    /// <paramref name="epoch"/>. A replica of the in-sync set has none: a change of its membership clears it, and
    /// setting one for a replica in the set (or no longer of the volume) records nothing.
    /// </summary>
    /// <exception cref="MembershipFencedException">The volume's epoch is no longer <paramref name="epoch"/>.</exception>
    /// <exception cref="MembershipUnavailableException">The store could not be reached or answer; the checkpoint may or may not be recorded.</exception>
    Task SetRebuildCheckpointAsync(long epoch, string replica, long? copiedBytes, CancellationToken ct);
}

/// <summary>A newer target instance took the volume over: this one may not change anything again.</summary>
public sealed class MembershipFencedException(string message) : Exception(message);

/// <summary>The membership store could not be asked (unreachable, timed out); trying again may succeed.</summary>
public sealed class MembershipUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
