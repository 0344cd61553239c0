using System.Security.Cryptography;
using System.Text;

namespace Strata.Iscsi.Scsi;

/// <summary>
/// Who a logical unit says it is in INQUIRY data and VPD pages. Every identifier is derived from
/// <see cref="VolumeId"/>, so the same volume keeps the same NAA designator and serial number across restarts
/// and across targets (what multipath initiators match paths on, SPC-4 7.8.6).
/// </summary>
/// <param name="VolumeId">A stable name of the volume, e.g. its Strata volume name or UUID.</param>
/// <param name="ProductId">INQUIRY PRODUCT IDENTIFICATION, at most 16 ASCII characters.</param>
/// <param name="Revision">INQUIRY PRODUCT REVISION LEVEL, at most 4 ASCII characters.</param>
/// <param name="ThinProvisioned">Whether the LU is thin provisioned (LBPME, SBC-3 4.7): UNMAP and WRITE SAME
/// with UNMAP deallocate, and deallocated blocks read as zeros (LBPRZ).</param>
public sealed record LogicalUnitIdentity(
    string VolumeId,
    string ProductId = "VOLUME",
    string Revision = "0001",
    bool ThinProvisioned = true)
{
    /// <summary>INQUIRY T10 VENDOR IDENTIFICATION.</summary>
    public const string Vendor = "STRATA";

    /// <summary>
    /// The 24-bit company id in our NAA IEEE Registered Extended designators. Not an IEEE-assigned OUI: the
    /// value has the locally administered bit pattern, which keeps it from colliding with a registered vendor.
    /// </summary>
    public const uint CompanyId = 0x0A_5A_7A;

    private readonly byte[] _digest = SHA256.HashData(Encoding.UTF8.GetBytes(VolumeId));

    /// <summary>UNIT SERIAL NUMBER (VPD 80h): 32 hex digits of the volume id's SHA-256.</summary>
    public string SerialNumber => Convert.ToHexStringLower(_digest.AsSpan(0, 16));

    /// <summary>The 16-byte NAA IEEE Registered Extended designator (NAA 6h, SPC-4 7.8.6.6.5).</summary>
    public byte[] NaaDesignator
    {
        get
        {
            var naa = new byte[16];
            // NAA (4 bits) | IEEE company id (24 bits) | vendor specific identifier (36 bits) | extension (64 bits)
            naa[0] = (byte)(0x60 | ((CompanyId >> 20) & 0x0F));
            naa[1] = (byte)((CompanyId >> 12) & 0xFF);
            naa[2] = (byte)((CompanyId >> 4) & 0xFF);
            naa[3] = (byte)(((CompanyId & 0x0F) << 4) | (_digest[0] & 0x0Fu));
            _digest.AsSpan(1, 12).CopyTo(naa.AsSpan(4));
            return naa;
        }
    }
}
