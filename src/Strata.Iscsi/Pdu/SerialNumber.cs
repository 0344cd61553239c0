namespace Strata.Iscsi.Pdu;

/// <summary>32-bit serial number arithmetic for CmdSN, StatSN and DataSN (RFC 1982, RFC 7143 4.2.2.1).</summary>
public static class SerialNumber
{
    public static bool LessThan(uint a, uint b) => a != b && (int)(a - b) < 0;

    public static bool GreaterThan(uint a, uint b) => a != b && (int)(a - b) > 0;

    /// <summary>True when <paramref name="value"/> lies in [<paramref name="low"/>, <paramref name="high"/>].</summary>
    public static bool InWindow(uint value, uint low, uint high) => !LessThan(value, low) && !GreaterThan(value, high);
}
