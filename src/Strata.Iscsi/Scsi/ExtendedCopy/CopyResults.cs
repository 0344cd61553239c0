namespace Strata.Iscsi.Scsi.ExtendedCopy;

/// <summary>The outcome of one EXTENDED COPY, as RECEIVE COPY RESULTS (COPY STATUS) reports it (SPC-4 6.18.3).</summary>
internal sealed record CopyStatus(byte Status, ushort SegmentsProcessed, ulong BytesTransferred);

/// <summary>Held copy results of one LU, per I_T nexus and LIST IDENTIFIER (SPC-4 5.16.4.3: LIST ID USAGE 00b).</summary>
internal sealed class CopyResults
{
    public const byte CompletedGood = 0x01;
    public const byte CompletedWithError = 0x02;

    private readonly Lock _gate = new();
    private readonly Dictionary<(ItNexus Nexus, byte ListId), CopyStatus> _held = [];

    public void Hold(ItNexus nexus, byte listId, CopyStatus status)
    {
        lock (_gate)
        {
            _held[(nexus, listId)] = status;
        }
    }

    public void Discard(ItNexus nexus, byte listId)
    {
        lock (_gate)
        {
            _held.Remove((nexus, listId));
        }
    }

    /// <summary>Takes the held status of a completed copy: once reported it is discarded (SPC-4 6.18.3).</summary>
    public CopyStatus? Take(ItNexus nexus, byte listId)
    {
        lock (_gate)
        {
            return _held.Remove((nexus, listId), out var status) ? status : null;
        }
    }

    public void Forget(ItNexus nexus)
    {
        lock (_gate)
        {
            foreach (var key in _held.Keys.Where(k => k.Nexus.Equals(nexus)).ToList())
            {
                _held.Remove(key);
            }
        }
    }
}
