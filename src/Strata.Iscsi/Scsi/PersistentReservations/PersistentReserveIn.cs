using System.Buffers.Binary;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.PersistentReservations;

/// <summary>PERSISTENT RESERVE IN (SPC-4 6.14): READ KEYS, READ RESERVATION, REPORT CAPABILITIES, READ FULL STATUS.</summary>
internal static class PersistentReserveIn
{
    public const byte ReadKeys = 0x00;
    public const byte ReadReservation = 0x01;
    public const byte ReportCapabilities = 0x02;
    public const byte ReadFullStatus = 0x03;

    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        int serviceAction = cdb[1] & 0x1F;
        int allocation = BinaryPrimitives.ReadUInt16BigEndian(cdb[7..]);
        var state = unit.Reservations;
        byte[] data;
        lock (state.Gate)
        {
            data = serviceAction switch
            {
                ReadKeys => Keys(state),
                ReadReservation => Reservation(state),
                ReportCapabilities => Capabilities(),
                ReadFullStatus => FullStatus(unit, state),
                _ => [],
            };
        }

        if (serviceAction > ReadFullStatus)
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(1, 4));
            return default;
        }

        BlockLogicalUnit.Respond(task, data, allocation);
        return default;
    }

    private static byte[] Keys(ReservationState state)
    {
        // SPC-4 6.14.2: PRgeneration, ADDITIONAL LENGTH, then one 8-byte key per registered I_T nexus.
        var data = new byte[8 + (8 * state.Registrations.Count)];
        BinaryPrimitives.WriteUInt32BigEndian(data, state.Generation);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(4), (uint)(8 * state.Registrations.Count));
        for (int i = 0; i < state.Registrations.Count; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(data.AsSpan(8 + (8 * i)), state.Registrations[i].Key);
        }

        return data;
    }

    private static byte[] Reservation(ReservationState state)
    {
        // SPC-4 6.14.3.
        if (state.Type is not { } type)
        {
            var none = new byte[8];
            BinaryPrimitives.WriteUInt32BigEndian(none, state.Generation);
            return none;
        }

        var data = new byte[24];
        BinaryPrimitives.WriteUInt32BigEndian(data, state.Generation);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(4), 16);
        // The all-registrants types report key 0 (SPC-4 5.13.10.3).
        ulong key = ReservationState.IsAllRegistrants(type) ? 0 : state.Find(state.Holder!)?.Key ?? 0;
        BinaryPrimitives.WriteUInt64BigEndian(data.AsSpan(8), key);
        data[21] = (byte)type; // SCOPE 0h (LU_SCOPE) | TYPE
        return data;
    }

    private static byte[] Capabilities()
    {
        // SPC-4 6.14.4: CRH=1 (RESERVE/RELEASE behave as 5.13.3 says), SIP_C/ATP_C/PTPL_C=0, TMV=1 with every type.
        var data = new byte[8];
        data[1] = 8;
        data[2] = 0x10;
        data[3] = 0x80;
        data[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02; // WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX
        data[5] = 0x01; // EX_AC_AR
        return data;
    }

    private static byte[] FullStatus(BlockLogicalUnit unit, ReservationState state)
    {
        // SPC-4 6.14.5: one full status descriptor per registration.
        int length = 0;
        foreach (var r in state.Registrations)
        {
            length += 24 + TransportId.LengthOf(r.Nexus);
        }

        var data = new byte[8 + length];
        BinaryPrimitives.WriteUInt32BigEndian(data, state.Generation);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(4), (uint)length);
        int at = 8;
        foreach (var r in state.Registrations)
        {
            var d = data.AsSpan(at);
            BinaryPrimitives.WriteUInt64BigEndian(d, r.Key);
            if (state.IsHolder(r.Nexus))
            {
                d[12] = 0x01; // R_HOLDER
                d[13] = (byte)state.Type!.Value;
            }

            BinaryPrimitives.WriteUInt16BigEndian(d[18..], ScsiTargetDevice.RelativeTargetPortOf(r.Nexus));
            int idLength = TransportId.Write(r.Nexus, d[24..]);
            BinaryPrimitives.WriteUInt32BigEndian(d[20..], (uint)idLength);
            at += 24 + idLength;
        }

        _ = unit;
        return data;
    }
}
