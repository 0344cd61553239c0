namespace Strata.Iscsi.Login;

/// <summary>
/// The operational parameters of one connection and its session after login, with RFC 7143's defaults
/// (section 13). The login negotiation fills them in; the full feature phase obeys them.
/// </summary>
public sealed class NegotiatedParameters
{
    public bool HeaderDigest { get; set; }

    public bool DataDigest { get; set; }

    /// <summary>The initiator's declared MaxRecvDataSegmentLength: the largest data segment we may send it.</summary>
    public int InitiatorMaxRecvDataSegmentLength { get; set; } = 8192;

    /// <summary>Our declared MaxRecvDataSegmentLength: the largest data segment the initiator may send us.</summary>
    public int TargetMaxRecvDataSegmentLength { get; set; } = 8192;

    public int MaxBurstLength { get; set; } = 262144;

    public int FirstBurstLength { get; set; } = 65536;

    public bool InitialR2T { get; set; } = true;

    public bool ImmediateData { get; set; } = true;

    public int MaxOutstandingR2T { get; set; } = 1;

    public bool DataPduInOrder { get; set; } = true;

    public bool DataSequenceInOrder { get; set; } = true;

    public int DefaultTime2Wait { get; set; } = 2;

    public int DefaultTime2Retain { get; set; } = 20;

    public int ErrorRecoveryLevel { get; set; }

    public int MaxConnections { get; set; } = 1;

    public string? InitiatorName { get; set; }

    public string? InitiatorAlias { get; set; }

    public string? TargetName { get; set; }

    public SessionType SessionType { get; set; } = SessionType.Normal;
}

/// <summary>What this target offers and accepts in operational negotiation (RFC 7143 13).</summary>
public sealed class TargetNegotiationLimits
{
    /// <summary>Our MaxRecvDataSegmentLength, declared to the initiator.</summary>
    public int MaxRecvDataSegmentLength { get; init; } = 262144;

    /// <summary>Upper bound for MaxBurstLength (the RFC's maximum is 2^24-1).</summary>
    public int MaxBurstLength { get; init; } = 16776192;

    /// <summary>Upper bound for FirstBurstLength.</summary>
    public int FirstBurstLength { get; init; } = 16776192;

    /// <summary>We want InitialR2T=No and ImmediateData=Yes: writes need no round trip before their data.</summary>
    public bool InitialR2T { get; init; }

    public bool ImmediateData { get; init; } = true;

    public int MaxOutstandingR2T { get; init; } = 16;

    /// <summary>ERL 0 only: a failed connection fails its session, which the initiator then reinstates.</summary>
    public int ErrorRecoveryLevel { get; init; }

    public int MaxConnections { get; init; } = 1;

    public int DefaultTime2Wait { get; init; } = 2;

    public int DefaultTime2Retain { get; init; }
}
