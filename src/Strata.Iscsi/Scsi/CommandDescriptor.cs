namespace Strata.Iscsi.Scsi;

/// <summary>Executes one command of a logical unit; sets the task's status, sense and transfer length.</summary>
internal delegate ValueTask CommandHandler(BlockLogicalUnit unit, ScsiTask task);

/// <summary>How a command fares under a persistent reservation held by another I_T nexus (SPC-4 5.13.1 tables
/// 49/50, SBC-3 table 13): always allowed, a read (conflicts under Exclusive Access types), or a write
/// (conflicts under Write Exclusive and Exclusive Access types).</summary>
internal enum ReservationAccess
{
    Allowed,
    Read,
    Write,
}

/// <summary>
/// What the target knows of one command: its opcode and service action, its CDB usage data (SPC-4 6.35.3: the
/// bits it looks at; every other bit must be zero), how reservations treat it, and its handler.
/// </summary>
internal sealed class CommandDescriptor
{
    public CommandDescriptor(string name, byte[] cdbUsage, ReservationAccess access, CommandHandler handler, int serviceAction = -1)
    {
        Name = name;
        CdbUsage = cdbUsage;
        Access = access;
        Handler = handler;
        ServiceAction = serviceAction;
    }

    public string Name { get; }

    public byte Opcode => CdbUsage[0];

    /// <summary>The service action (byte 1, bits 4-0), or -1 for a command without one.</summary>
    public int ServiceAction { get; }

    public bool HasServiceAction => ServiceAction >= 0;

    /// <summary>CDB USAGE DATA: byte 0 the opcode, byte 1 holds the service action when there is one.</summary>
    public byte[] CdbUsage { get; }

    public int CdbLength => CdbUsage.Length;

    public ReservationAccess Access { get; }

    public CommandHandler Handler { get; }

    /// <summary>Changes the medium: refused while software write protect (SWP) is on.</summary>
    public bool WritesMedium { get; init; }

    /// <summary>INQUIRY, REPORT LUNS and REQUEST SENSE neither report nor clear a unit attention (SAM-5 5.14).</summary>
    public bool IgnoresUnitAttention { get; init; }

    /// <summary>Allowed while another I_T nexus holds an SPC-2 RESERVE (SPC-2 7.21, table 31).</summary>
    public bool AllowedUnderReserve { get; init; }
}
