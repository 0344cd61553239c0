namespace Strata.State;

/// <summary>A put named a lease that has ended (expired or revoked) or was never granted; nothing was written.</summary>
public sealed class StoreLeaseNotFoundException(long lease)
    : StoreException($"lease {lease} not found: it has ended or was never granted")
{
    public long Lease { get; } = lease;
}
