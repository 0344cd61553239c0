using System.Collections.Concurrent;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi;

/// <summary>
/// Unit attention conditions of one logical unit, kept per I_T nexus (SAM-5 5.14, SPC-4 5.14). A nexus the LU
/// has not seen before starts with POWER ON, RESET, OR BUS DEVICE RESET OCCURRED.
/// </summary>
internal sealed class UnitAttentions
{
    private readonly ConcurrentDictionary<ItNexus, NexusAttentions> _byNexus = new();

    public NexusAttentions For(ItNexus nexus) =>
        _byNexus.GetOrAdd(nexus, static _ => new NexusAttentions(AdditionalSense.PowerOnResetOrBusDeviceReset));

    /// <summary>Establishes <paramref name="sense"/> for every known nexus but <paramref name="except"/>.</summary>
    public void EstablishForOthers(ItNexus? except, AdditionalSense sense)
    {
        foreach (var (nexus, attentions) in _byNexus)
        {
            if (!nexus.Equals(except))
            {
                attentions.Add(sense);
            }
        }
    }

    public void Establish(ItNexus nexus, AdditionalSense sense) => For(nexus).Add(sense);

    /// <summary>A reset: every nexus, the requester included, sees <paramref name="sense"/> and nothing older.</summary>
    public void Reset(AdditionalSense sense)
    {
        foreach (var attentions in _byNexus.Values)
        {
            attentions.Replace(sense);
        }
    }

    public void Forget(ItNexus nexus) => _byNexus.TryRemove(nexus, out _);
}

/// <summary>The pending unit attentions of one I_T nexus, oldest first.</summary>
internal sealed class NexusAttentions
{
    private const int MaxPending = 8;
    private readonly Lock _gate = new();
    private readonly List<AdditionalSense> _pending = new(MaxPending);
    private volatile int _count;

    public NexusAttentions(AdditionalSense initial)
    {
        _pending.Add(initial);
        _count = 1;
    }

    public bool HasPending => _count != 0;

    public void Add(AdditionalSense sense)
    {
        lock (_gate)
        {
            if (_pending.Contains(sense))
            {
                return;
            }

            if (_pending.Count == MaxPending)
            {
                _pending.RemoveAt(0);
            }

            _pending.Add(sense);
            _count = _pending.Count;
        }
    }

    public void Replace(AdditionalSense sense)
    {
        lock (_gate)
        {
            _pending.Clear();
            _pending.Add(sense);
            _count = 1;
        }
    }

    public bool TryTake(out AdditionalSense sense)
    {
        if (_count == 0)
        {
            sense = default;
            return false;
        }

        lock (_gate)
        {
            if (_pending.Count == 0)
            {
                sense = default;
                return false;
            }

            sense = _pending[0];
            _pending.RemoveAt(0);
            _count = _pending.Count;
            return true;
        }
    }
}
