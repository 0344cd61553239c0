using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Strata.Iscsi.Scsi.PersistentReservations;

/// <summary>iSCSI TransportIDs (SPC-4 7.6.4.6): how PR data names an initiator port.</summary>
internal static class TransportId
{
    private const byte IscsiProtocol = 0x05;

    /// <summary>Writes the initiator port TransportID (format 01b: "name,i,0xISID"); returns its length.</summary>
    public static int Write(ItNexus nexus, Span<byte> destination)
    {
        string port = $"{nexus.InitiatorName},i,0x{nexus.Isid:x12}";
        int nameBytes = Encoding.UTF8.GetByteCount(port) + 1; // NUL-terminated
        int padded = (nameBytes + 3) & ~3;
        int length = 4 + padded;
        if (destination.Length < length)
        {
            return length;
        }

        destination[..length].Clear();
        destination[0] = 0x40 | IscsiProtocol;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)padded);
        Encoding.UTF8.GetBytes(port, destination[4..]);
        return length;
    }

    public static int LengthOf(ItNexus nexus) => Write(nexus, Span<byte>.Empty);

    /// <summary>Parses an iSCSI TransportID into initiator name and ISID (ISID -1 for format 00b).</summary>
    public static bool TryParse(ReadOnlySpan<byte> id, out string initiatorName, out long isid, out int length)
    {
        initiatorName = string.Empty;
        isid = -1;
        length = 0;
        if (id.Length < 4 || (id[0] & 0x0F) != IscsiProtocol)
        {
            return false;
        }

        int format = id[0] >> 6;
        length = 4 + BinaryPrimitives.ReadUInt16BigEndian(id[2..]);
        if (length > id.Length || format > 1)
        {
            return false;
        }

        var text = id[4..length];
        int nul = text.IndexOf((byte)0);
        string value = Encoding.UTF8.GetString(nul >= 0 ? text[..nul] : text);
        if (format == 0)
        {
            initiatorName = value;
            return value.Length > 0;
        }

        int sep = value.IndexOf(",i,0x", StringComparison.OrdinalIgnoreCase);
        if (sep <= 0 || !long.TryParse(value.AsSpan(sep + 5), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out isid))
        {
            return false;
        }

        initiatorName = value[..sep];
        return true;
    }
}
