namespace Strata.Iscsi.Scsi.PersistentReservations;

/// <summary>One registered I_T nexus and its reservation key (SPC-4 5.13.7).</summary>
internal sealed record Registration(ItNexus Nexus, ulong Key);

/// <summary>
/// The reservations of one logical unit: persistent reservations (SPC-4 5.13: registrations, the reservation,
/// the PRgeneration) and the SPC-2 RESERVE/RELEASE reservation. Not persisted across restarts (PTPL_C=0).
/// All state changes happen under one lock; the common path (no reservation at all) takes no lock.
/// </summary>
internal sealed class ReservationState
{
    private readonly Lock _gate = new();
    private readonly List<Registration> _registrations = [];
    private volatile bool _anyReservation;

    public Lock Gate => _gate;

    public uint Generation { get; set; }

    public List<Registration> Registrations => _registrations;

    /// <summary>The persistent reservation holder; null for the all-registrants types or when none.</summary>
    public ItNexus? Holder { get; private set; }

    public PersistentReservationType? Type { get; private set; }

    /// <summary>The I_T nexus holding an SPC-2 RESERVE, if any.</summary>
    public ItNexus? ReservedBy { get; private set; }

    public static bool IsAllRegistrants(PersistentReservationType t) =>
        t is PersistentReservationType.WriteExclusiveAllRegistrants or PersistentReservationType.ExclusiveAccessAllRegistrants;

    public static bool IsRegistrantsOnly(PersistentReservationType t) =>
        t is PersistentReservationType.WriteExclusiveRegistrantsOnly or PersistentReservationType.ExclusiveAccessRegistrantsOnly;

    public Registration? Find(ItNexus nexus)
    {
        foreach (var r in _registrations)
        {
            if (r.Nexus.Equals(nexus))
            {
                return r;
            }
        }

        return null;
    }

    /// <summary>Whether <paramref name="nexus"/> holds the persistent reservation (SPC-4 5.13.10).</summary>
    public bool IsHolder(ItNexus nexus)
    {
        if (Type is not { } type)
        {
            return false;
        }

        return IsAllRegistrants(type) ? Find(nexus) is not null : nexus.Equals(Holder);
    }

    public void SetReservation(ItNexus? holder, PersistentReservationType type)
    {
        Holder = IsAllRegistrants(type) ? null : holder;
        Type = type;
        Refresh();
    }

    public void ClearReservation()
    {
        Holder = null;
        Type = null;
        Refresh();
    }

    public void Refresh() => _anyReservation = Type is not null || ReservedBy is not null;

    /// <summary>Whether <paramref name="command"/> from <paramref name="nexus"/> meets RESERVATION CONFLICT.</summary>
    public bool Conflicts(ItNexus nexus, CommandDescriptor command)
    {
        if (!_anyReservation)
        {
            return false;
        }

        lock (_gate)
        {
            if (ReservedBy is { } owner && !owner.Equals(nexus))
            {
                // SPC-2 7.21: everything but a short list conflicts with another nexus' RESERVE.
                return !command.AllowedUnderReserve;
            }

            if (Type is not { } type || command.Access == ReservationAccess.Allowed)
            {
                return false;
            }

            if (IsHolder(nexus))
            {
                return false;
            }

            bool registered = Find(nexus) is not null;
            bool write = command.Access == ReservationAccess.Write;
            // SPC-4 5.13.1, table 49.
            return type switch
            {
                PersistentReservationType.WriteExclusive => write,
                PersistentReservationType.ExclusiveAccess => true,
                PersistentReservationType.WriteExclusiveRegistrantsOnly or PersistentReservationType.WriteExclusiveAllRegistrants => write && !registered,
                _ => !registered,
            };
        }
    }

    /// <summary>SPC-2 RESERVE(6/10): false when another nexus holds a reservation of either kind.</summary>
    public bool TryReserve(ItNexus nexus)
    {
        lock (_gate)
        {
            if (ReservedBy is { } owner && !owner.Equals(nexus))
            {
                return false;
            }

            // SPC-4 5.13.3: RESERVE while a persistent reservation exists is a conflict.
            if (Type is not null)
            {
                return false;
            }

            ReservedBy = nexus;
            Refresh();
            return true;
        }
    }

    /// <summary>SPC-2 RELEASE(6/10): releases only the caller's own reservation; otherwise nothing.</summary>
    public void Release(ItNexus nexus)
    {
        lock (_gate)
        {
            if (nexus.Equals(ReservedBy))
            {
                ReservedBy = null;
                Refresh();
            }
        }
    }

    public void ReleaseReserve()
    {
        lock (_gate)
        {
            ReservedBy = null;
            Refresh();
        }
    }

    /// <summary>I_T nexus loss releases an SPC-2 reservation (SPC-2 5.5.1); persistent ones survive.</summary>
    public void NexusLost(ItNexus nexus) => Release(nexus);

    public IEnumerable<ItNexus> RegisteredNexusesExcept(ItNexus? except)
    {
        foreach (var r in _registrations)
        {
            if (!r.Nexus.Equals(except))
            {
                yield return r.Nexus;
            }
        }
    }
}
