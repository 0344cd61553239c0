using Strata.Iscsi.Login;

namespace Strata.Iscsi.Session;

/// <summary>
/// The ranges RFC 7143 section 13 gives the numeric operational keys. The transport checks them once more
/// after login, whatever the negotiator decided, because it divides by them and loops on them.
/// </summary>
internal static class NegotiatedBounds
{
    private const int MinSegment = 512;
    private const int MaxSegment = (1 << 24) - 1;

    /// <summary>The first value out of range, described, or null when all are in range.</summary>
    public static string? Violation(NegotiatedParameters p)
    {
        if (p.InitiatorMaxRecvDataSegmentLength is < MinSegment or > MaxSegment)
        {
            return $"initiator MaxRecvDataSegmentLength {p.InitiatorMaxRecvDataSegmentLength} outside 512..2^24-1 (RFC 7143 13.12)";
        }

        if (p.TargetMaxRecvDataSegmentLength is < MinSegment or > MaxSegment)
        {
            return $"target MaxRecvDataSegmentLength {p.TargetMaxRecvDataSegmentLength} outside 512..2^24-1 (RFC 7143 13.12)";
        }

        if (p.MaxBurstLength is < MinSegment or > MaxSegment)
        {
            return $"MaxBurstLength {p.MaxBurstLength} outside 512..2^24-1 (RFC 7143 13.13)";
        }

        if (p.FirstBurstLength < MinSegment || p.FirstBurstLength > p.MaxBurstLength)
        {
            return $"FirstBurstLength {p.FirstBurstLength} outside 512..MaxBurstLength (RFC 7143 13.14)";
        }

        if (p.MaxOutstandingR2T is < 1 or > 65535)
        {
            return $"MaxOutstandingR2T {p.MaxOutstandingR2T} outside 1..65535 (RFC 7143 13.17)";
        }

        return null;
    }
}
