using System.Buffers.Binary;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi;

/// <summary>
/// The SCSI target device of one iSCSI target (SAM-5 4.6.2): a map from LUN to <see cref="BlockLogicalUnit"/>.
/// REPORT LUNS is answered for any LUN; INQUIRY to a LUN that does not exist reports peripheral qualifier 011b
/// (SPC-4 6.6.2); any other command to it ends with ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED.
/// </summary>
/// <remarks>
/// Build it with the LUs it serves (<c>new ScsiTargetDevice([(0, unit)])</c>) or empty and <see cref="Add"/>
/// them; adding or removing a LUN later makes every nexus see REPORTED LUNS DATA HAS CHANGED.
/// </remarks>
public sealed class ScsiTargetDevice : IScsiTaskExecutor
{
    private volatile KeyValuePair<ulong, BlockLogicalUnit>[] _units = [];
    private readonly Lock _gate = new();

    public ScsiTargetDevice()
    {
    }

    public ScsiTargetDevice(IReadOnlyList<(ulong Lun, BlockLogicalUnit Unit)> units)
    {
        ArgumentNullException.ThrowIfNull(units);
        foreach (var (lun, unit) in units)
        {
            AddUnit(lun, unit, announce: false);
        }
    }

    /// <summary>The LUNs served, ascending.</summary>
    public IReadOnlyList<ulong> Luns => Array.ConvertAll(_units, u => u.Key);

    /// <summary>Adds a logical unit at <paramref name="lun"/> (0..16383, flat/peripheral addressing).</summary>
    public void Add(ulong lun, BlockLogicalUnit unit) => AddUnit(lun, unit, announce: true);

    /// <summary>Removes the logical unit at <paramref name="lun"/>, if any.</summary>
    public bool Remove(ulong lun)
    {
        lock (_gate)
        {
            var units = _units;
            int i = Array.FindIndex(units, u => u.Key == lun);
            if (i < 0)
            {
                return false;
            }

            var next = new List<KeyValuePair<ulong, BlockLogicalUnit>>(units);
            next[i].Value.Target = null;
            next.RemoveAt(i);
            _units = [.. next];
            Announce(null);
            return true;
        }
    }

    public BlockLogicalUnit? Find(ulong lun)
    {
        foreach (var u in _units)
        {
            if (u.Key == lun)
            {
                return u.Value;
            }
        }

        return null;
    }

    public bool HasLun(ulong lun) => Find(lun) is not null;

    public ValueTask ExecuteAsync(ScsiTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        task.Status = ScsiStatus.Good;
        task.TransferLength = 0;
        task.SetSenseLength(0);
        var unit = Find(task.Lun);
        var cdb = task.Cdb.Span;
        if (!cdb.IsEmpty && cdb[0] == ScsiOpcode.ReportLuns)
        {
            // SPC-4 6.33: REPORT LUNS is the target device's business, whichever LUN it is addressed to; the LU's
            // unit attentions still come first when the LUN exists.
            if (unit is not null)
            {
                var attentions = unit.UnitAttentions.For(task.Nexus);
                if (attentions.HasPending && attentions.TryTake(out var attention))
                {
                    unit.Fail(task, SenseData.Of(SenseKey.UnitAttention, attention));
                    return default;
                }
            }

            ReportLuns(task);
            return default;
        }

        if (unit is not null)
        {
            return unit.ExecuteAsync(task);
        }

        if (!cdb.IsEmpty && cdb[0] == ScsiOpcode.Inquiry && (cdb.Length < 2 || (cdb[1] & 0x01) == 0))
        {
            // SPC-4 6.6.2: PERIPHERAL QUALIFIER 011b, PERIPHERAL DEVICE TYPE 1Fh: no LU at this LUN.
            Span<byte> data = stackalloc byte[36];
            data.Clear();
            data[0] = 0x7F;
            data[2] = 0x06;
            data[3] = 0x12;
            data[4] = 31;
            int allocation = cdb.Length >= 5 ? BinaryPrimitives.ReadUInt16BigEndian(cdb[3..]) : 36;
            BlockLogicalUnit.Respond(task, data, allocation);
            return default;
        }

        if (!cdb.IsEmpty && cdb[0] == ScsiOpcode.RequestSense)
        {
            // SPC-4 6.39: REQUEST SENSE to an absent LU reports LOGICAL UNIT NOT SUPPORTED as its sense data.
            Span<byte> data = stackalloc byte[18];
            int n = SenseData.LogicalUnitNotSupported.WriteTo(data, descriptorFormat: false);
            BlockLogicalUnit.Respond(task, data[..n], cdb.Length >= 5 ? cdb[4] : n);
            return default;
        }

        task.Status = ScsiStatus.CheckCondition;
        task.SetSenseLength(SenseData.LogicalUnitNotSupported.WriteTo(task.SenseBuffer, descriptorFormat: false));
        return default;
    }

    public void LogicalUnitReset(ulong lun, ItNexus requester)
    {
        Find(lun)?.Reset();
    }

    public void TargetReset(ItNexus requester)
    {
        foreach (var u in _units)
        {
            u.Value.Reset();
        }
    }

    public void TasksAborted(ulong lun, ItNexus requester)
    {
        // SAM-5 5.6 / SPC-4 7.5.8 (TAS=1): tasks aborted by another nexus end with TASK ABORTED status; other
        // nexuses whose tasks went also learn of it through COMMANDS CLEARED BY ANOTHER INITIATOR.
        Find(lun)?.UnitAttentions.EstablishForOthers(requester, AdditionalSense.CommandsClearedByAnotherInitiator);
    }

    public void NexusLost(ItNexus nexus)
    {
        foreach (var u in _units)
        {
            u.Value.NexusLost(nexus);
        }
    }

    /// <summary>The RELATIVE TARGET PORT IDENTIFIER of a nexus' target port (SPC-4 7.8.6.7): its TPGT, with 0
    /// (reserved) mapped to 1.</summary>
    internal static ushort RelativeTargetPortOf(ItNexus nexus) =>
        nexus.TargetPortalGroupTag == 0 ? (ushort)1 : nexus.TargetPortalGroupTag;

    internal static ushort TpgtOf(ushort relativeTargetPort, ItNexus reference) =>
        RelativeTargetPortOf(reference) == relativeTargetPort ? reference.TargetPortalGroupTag : relativeTargetPort;

    /// <summary>Finds the LU whose NAA designator equals <paramref name="designator"/> (EXTENDED COPY CSCDs).</summary>
    internal BlockLogicalUnit? FindByDesignator(ReadOnlySpan<byte> designator)
    {
        foreach (var u in _units)
        {
            if (designator.SequenceEqual(u.Value.NaaDesignator))
            {
                return u.Value;
            }
        }

        return null;
    }

    private void AddUnit(ulong lun, BlockLogicalUnit unit, bool announce)
    {
        ArgumentNullException.ThrowIfNull(unit);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(lun, 16383UL);
        lock (_gate)
        {
            if (unit.Target is not null)
            {
                throw new InvalidOperationException("the logical unit already belongs to a target device");
            }

            if (Find(lun) is not null)
            {
                throw new InvalidOperationException($"LUN {lun} is already in use");
            }

            unit.Target = this;
            unit.Lun = lun;
            var next = new List<KeyValuePair<ulong, BlockLogicalUnit>>(_units) { new(lun, unit) };
            next.Sort((a, b) => a.Key.CompareTo(b.Key));
            _units = [.. next];
            if (announce)
            {
                Announce(unit);
            }
        }
    }

    private void Announce(BlockLogicalUnit? added)
    {
        // SPC-4 6.33: a change of the LU inventory is a REPORTED LUNS DATA HAS CHANGED unit attention.
        foreach (var u in _units)
        {
            if (u.Value != added)
            {
                u.Value.UnitAttentions.EstablishForOthers(null, AdditionalSense.ReportedLunsDataHasChanged);
            }
        }
    }

    private void ReportLuns(ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        if (cdb.Length < 12)
        {
            task.Status = ScsiStatus.CheckCondition;
            task.SetSenseLength(SenseData.InvalidFieldInCdb(0).WriteTo(task.SenseBuffer, false));
            return;
        }

        byte selectReport = cdb[2];
        uint allocation = BinaryPrimitives.ReadUInt32BigEndian(cdb[6..]);
        var unit = Find(task.Lun);
        bool dsense = unit?.Mode.DescriptorSense ?? false;
        if (selectReport is not (0x00 or 0x01 or 0x02))
        {
            task.Status = ScsiStatus.CheckCondition;
            task.SetSenseLength(SenseData.InvalidFieldInCdb(2).WriteTo(task.SenseBuffer, dsense));
            return;
        }

        // SPC-4 6.33: an allocation length under 16 is an invalid field.
        if (allocation < 16)
        {
            task.Status = ScsiStatus.CheckCondition;
            task.SetSenseLength(SenseData.InvalidFieldInCdb(6).WriteTo(task.SenseBuffer, dsense));
            return;
        }

        var units = _units;
        int count = selectReport == 0x01 ? 0 : units.Length; // 01h: well-known LUs only; we have none
        int length = 8 + (8 * count);
        int n = (int)Math.Min(length, Math.Min(allocation, int.MaxValue));
        var output = task.DataIn.Span;
        Span<byte> entry = stackalloc byte[8];
        for (int at = 0; at < Math.Min(n, output.Length); at += 8)
        {
            entry.Clear();
            if (at == 0)
            {
                BinaryPrimitives.WriteUInt32BigEndian(entry, (uint)(8 * count));
            }
            else
            {
                ulong lun = units[(at / 8) - 1].Key;
                // SAM-5 4.7: peripheral device addressing below 256, flat space addressing above.
                if (lun < 256)
                {
                    entry[1] = (byte)lun;
                }
                else
                {
                    entry[0] = (byte)(0x40 | (lun >> 8));
                    entry[1] = (byte)lun;
                }
            }

            int take = Math.Min(8, Math.Min(n, output.Length) - at);
            entry[..take].CopyTo(output[at..]);
        }

        task.Status = ScsiStatus.Good;
        task.TransferLength = n;
    }
}
