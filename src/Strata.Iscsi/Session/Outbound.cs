using System.Runtime.CompilerServices;

namespace Strata.Iscsi.Session;

/// <summary>What the sender does with the StatSN field of an outbound PDU (RFC 7143 4.2.2.2).</summary>
internal enum StatSNUse : byte
{
    /// <summary>Carries the next StatSN and advances it: responses with status.</summary>
    Advance,

    /// <summary>Carries the next StatSN without advancing it: R2T, pings, Data-In without status.</summary>
    Current,
}

internal enum OutboundKind : byte
{
    /// <summary>A complete PDU built by the caller (header here, data in <see cref="Outbound.Data"/>).</summary>
    Pdu,

    /// <summary>The outcome of a SCSI command: Data-In PDUs and/or a SCSI Response, built by the sender.</summary>
    ScsiResult,
}

[InlineArray(48)]
internal struct HeaderBytes
{
    private byte _first;
}

/// <summary>One item of a connection's send queue.</summary>
internal struct Outbound
{
    public OutboundKind Kind;
    public StatSNUse StatSN;

    /// <summary>Close the connection once this PDU is on the wire (logout, login failure).</summary>
    public bool CloseAfter;

    /// <summary>Header and data digests start with the PDU after this one (the final login response).</summary>
    public bool StartDigestsAfter;

    /// <summary>This response ends a non-immediate command: its command window slot is free again.</summary>
    public bool ReleasesSlot;

    public HeaderBytes Header;
    public ReadOnlyMemory<byte> Data;
    public IscsiTask? Task;
}
