using Strata.Iscsi.Scsi.Commands;
using Strata.Iscsi.Scsi.ExtendedCopy;
using Strata.Iscsi.Scsi.PersistentReservations;

namespace Strata.Iscsi.Scsi;

/// <summary>
/// The opcode table of a block logical unit: every command it implements, with the CDB usage data REPORT
/// SUPPORTED OPERATION CODES reports and the LU enforces (a bit outside the mask is an invalid field).
/// Lookup is an array index by opcode, plus the service action for the opcodes that have them.
/// </summary>
internal static class CommandSet
{
    private const byte F = 0xFF;
    private static readonly CommandDescriptor?[] ByOpcode = new CommandDescriptor?[256];
    private static readonly CommandDescriptor?[]?[] ByServiceAction = new CommandDescriptor?[]?[256];

    static CommandSet()
    {
        var all = new List<CommandDescriptor>
        {
            new("TEST UNIT READY", [0x00, 0, 0, 0, 0, 0], ReservationAccess.Allowed, TestUnitReady.Execute),
            new("REQUEST SENSE", [0x03, 0x01, 0, 0, F, 0], ReservationAccess.Allowed, RequestSense.Execute) { IgnoresUnitAttention = true, AllowedUnderReserve = true },
            new("READ (6)", [0x08, 0x1F, F, F, F, 0], ReservationAccess.Read, Commands.Read.Execute),
            new("WRITE (6)", [0x0A, 0x1F, F, F, F, 0], ReservationAccess.Write, Commands.Write.Execute) { WritesMedium = true },
            new("INQUIRY", [0x12, 0x01, F, F, F, 0], ReservationAccess.Allowed, Inquiry.Execute) { IgnoresUnitAttention = true, AllowedUnderReserve = true },
            new("MODE SELECT (6)", [0x15, 0x11, 0, 0, F, 0], ReservationAccess.Write, ModeSelect.Execute),
            new("RESERVE (6)", [0x16, 0, 0, 0, 0, 0], ReservationAccess.Allowed, ReserveRelease.Reserve),
            new("RELEASE (6)", [0x17, 0, 0, 0, 0, 0], ReservationAccess.Allowed, ReserveRelease.Release) { AllowedUnderReserve = true },
            new("MODE SENSE (6)", [0x1A, 0x08, F, F, F, 0], ReservationAccess.Read, ModeSense.Execute),
            new("START STOP UNIT", [0x1B, 0x01, 0, 0x0F, 0xF7, 0], ReservationAccess.Write, StartStopUnit.Execute),
            new("PREVENT ALLOW MEDIUM REMOVAL", [0x1E, 0, 0, 0, 0x03, 0], ReservationAccess.Read, PreventAllowMediumRemoval.Execute),
            new("READ CAPACITY (10)", [0x25, 0, F, F, F, F, 0, 0, 0x01, 0], ReservationAccess.Allowed, ReadCapacity.Execute10),
            new("READ (10)", [0x28, 0x1A, F, F, F, F, 0x1F, F, F, 0], ReservationAccess.Read, Commands.Read.Execute),
            new("WRITE (10)", [0x2A, 0x1A, F, F, F, F, 0x1F, F, F, 0], ReservationAccess.Write, Commands.Write.Execute) { WritesMedium = true },
            new("WRITE AND VERIFY (10)", [0x2E, 0x16, F, F, F, F, 0x1F, F, F, 0], ReservationAccess.Write, Commands.Write.Execute) { WritesMedium = true },
            new("VERIFY (10)", [0x2F, 0x16, F, F, F, F, 0x1F, F, F, 0], ReservationAccess.Read, Verify.Execute),
            new("PRE-FETCH (10)", [0x34, 0x02, F, F, F, F, 0x1F, F, F, 0], ReservationAccess.Read, PreFetch.Execute),
            new("SYNCHRONIZE CACHE (10)", [0x35, 0x06, F, F, F, F, 0x1F, F, F, 0], ReservationAccess.Write, SynchronizeCache.Execute),
            new("READ DEFECT DATA (10)", [0x37, 0, 0x1F, 0, 0, 0, 0, F, F, 0], ReservationAccess.Read, ReadDefectData.Execute),
            new("WRITE SAME (10)", [0x41, 0x08, F, F, F, F, 0x1F, F, F, 0], ReservationAccess.Write, WriteSame.Execute) { WritesMedium = true },
            new("UNMAP", [0x42, 0, 0, 0, 0, 0, 0x1F, F, F, 0], ReservationAccess.Write, Unmap.Execute) { WritesMedium = true },
            new("SANITIZE", [0x48, 0xA0, 0, 0, 0, 0, 0, F, F, 0], ReservationAccess.Write, Sanitize.Execute, 0x01) { WritesMedium = true },
            new("SANITIZE", [0x48, 0xA0, 0, 0, 0, 0, 0, F, F, 0], ReservationAccess.Write, Sanitize.Execute, 0x02) { WritesMedium = true },
            new("SANITIZE", [0x48, 0xA0, 0, 0, 0, 0, 0, F, F, 0], ReservationAccess.Write, Sanitize.Execute, 0x03) { WritesMedium = true },
            new("SANITIZE", [0x48, 0xA0, 0, 0, 0, 0, 0, F, F, 0], ReservationAccess.Write, Sanitize.Execute, 0x1F) { WritesMedium = true },
            new("MODE SELECT (10)", [0x55, 0x11, 0, 0, 0, 0, 0, F, F, 0], ReservationAccess.Write, ModeSelect.Execute),
            new("RESERVE (10)", [0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0], ReservationAccess.Allowed, ReserveRelease.Reserve),
            new("RELEASE (10)", [0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0], ReservationAccess.Allowed, ReserveRelease.Release) { AllowedUnderReserve = true },
            new("MODE SENSE (10)", [0x5A, 0x18, F, F, 0, 0, 0, F, F, 0], ReservationAccess.Read, ModeSense.Execute),
            new("EXTENDED COPY", [0x83, 0, 0, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, 0], ReservationAccess.Write, ExtendedCopyCommand.Execute, 0x00) { WritesMedium = true },
            new("RECEIVE COPY RESULTS", [0x84, 0, F, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, 0], ReservationAccess.Allowed, ReceiveCopyResults.Execute, 0x00),
            new("RECEIVE COPY RESULTS", [0x84, 0, 0, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, 0], ReservationAccess.Allowed, ReceiveCopyResults.Execute, 0x03),
            new("READ (16)", [0x88, 0x1A, F, F, F, F, F, F, F, F, F, F, F, F, 0x1F, 0], ReservationAccess.Read, Commands.Read.Execute),
            new("COMPARE AND WRITE", [0x89, 0x18, F, F, F, F, F, F, F, F, 0, 0, 0, F, 0x1F, 0], ReservationAccess.Write, CompareAndWrite.Execute) { WritesMedium = true },
            new("WRITE (16)", [0x8A, 0x1A, F, F, F, F, F, F, F, F, F, F, F, F, 0x1F, 0], ReservationAccess.Write, Commands.Write.Execute) { WritesMedium = true },
            new("ORWRITE (16)", [0x8B, 0x1A, F, F, F, F, F, F, F, F, F, F, F, F, 0x1F, 0], ReservationAccess.Write, OrWrite.Execute) { WritesMedium = true },
            new("WRITE AND VERIFY (16)", [0x8E, 0x16, F, F, F, F, F, F, F, F, F, F, F, F, 0x1F, 0], ReservationAccess.Write, Commands.Write.Execute) { WritesMedium = true },
            new("VERIFY (16)", [0x8F, 0x16, F, F, F, F, F, F, F, F, F, F, F, F, 0x1F, 0], ReservationAccess.Read, Verify.Execute),
            new("PRE-FETCH (16)", [0x90, 0x02, F, F, F, F, F, F, F, F, F, F, F, F, 0x1F, 0], ReservationAccess.Read, PreFetch.Execute),
            new("SYNCHRONIZE CACHE (16)", [0x91, 0x06, F, F, F, F, F, F, F, F, F, F, F, F, 0x1F, 0], ReservationAccess.Write, SynchronizeCache.Execute),
            new("WRITE SAME (16)", [0x93, 0x09, F, F, F, F, F, F, F, F, F, F, F, F, 0x1F, 0], ReservationAccess.Write, WriteSame.Execute) { WritesMedium = true },
            new("WRITE ATOMIC (16)", [0x9C, 0x18, F, F, F, F, F, F, F, F, F, F, F, F, 0x1F, 0], ReservationAccess.Write, WriteAtomic.Execute) { WritesMedium = true },
            new("READ CAPACITY (16)", [0x9E, 0, F, F, F, F, F, F, F, F, F, F, F, F, 0x01, 0], ReservationAccess.Allowed, ReadCapacity.Execute16, ScsiOpcode.ReadCapacity16),
            new("GET LBA STATUS", [0x9E, 0, F, F, F, F, F, F, F, F, F, F, F, F, 0, 0], ReservationAccess.Read, GetLbaStatus.Execute, ScsiOpcode.GetLbaStatus),
            new("PERSISTENT RESERVE IN", [0x5E, 0, 0, 0, 0, 0, 0, F, F, 0], ReservationAccess.Allowed, PersistentReserveIn.Execute, PersistentReserveIn.ReadKeys),
            new("PERSISTENT RESERVE IN", [0x5E, 0, 0, 0, 0, 0, 0, F, F, 0], ReservationAccess.Allowed, PersistentReserveIn.Execute, PersistentReserveIn.ReadReservation),
            new("PERSISTENT RESERVE IN", [0x5E, 0, 0, 0, 0, 0, 0, F, F, 0], ReservationAccess.Allowed, PersistentReserveIn.Execute, PersistentReserveIn.ReportCapabilities),
            new("PERSISTENT RESERVE IN", [0x5E, 0, 0, 0, 0, 0, 0, F, F, 0], ReservationAccess.Allowed, PersistentReserveIn.Execute, PersistentReserveIn.ReadFullStatus),
            new("REPORT TARGET PORT GROUPS", [0xA3, 0xE0, 0, 0, 0, 0, F, F, F, F, 0, 0], ReservationAccess.Allowed, TargetPortGroups.Execute, TargetPortGroups.ServiceAction) { AllowedUnderReserve = true },
            new("REPORT SUPPORTED OPERATION CODES", [0xA3, 0, 0x87, F, F, F, F, F, F, F, 0, 0], ReservationAccess.Allowed, ReportSupportedOperationCodes.Execute, ScsiOpcode.ReportSupportedOperationCodes) { AllowedUnderReserve = true },
            new("REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS", [0xA3, 0, 0x80, 0, 0, 0, F, F, F, F, 0, 0], ReservationAccess.Allowed, ReportSupportedTaskManagementFunctions.Execute, ScsiOpcode.ReportSupportedTaskManagementFunctions) { AllowedUnderReserve = true },
            new("READ (12)", [0xA8, 0x1A, F, F, F, F, F, F, F, F, 0x1F, 0], ReservationAccess.Read, Commands.Read.Execute),
            new("WRITE (12)", [0xAA, 0x1A, F, F, F, F, F, F, F, F, 0x1F, 0], ReservationAccess.Write, Commands.Write.Execute) { WritesMedium = true },
            new("WRITE AND VERIFY (12)", [0xAE, 0x16, F, F, F, F, F, F, F, F, 0x1F, 0], ReservationAccess.Write, Commands.Write.Execute) { WritesMedium = true },
            new("VERIFY (12)", [0xAF, 0x16, F, F, F, F, F, F, F, F, 0x1F, 0], ReservationAccess.Read, Verify.Execute),
            new("READ DEFECT DATA (12)", [0xB7, 0x1F, F, F, F, F, F, F, F, F, 0, 0], ReservationAccess.Read, ReadDefectData.Execute),
        };

        // PERSISTENT RESERVE OUT: every service action; the reservation rules are its own (SPC-4 5.13.1).
        for (int sa = 0; sa <= 7; sa++)
        {
            all.Add(new("PERSISTENT RESERVE OUT", [0x5F, 0, F, 0, 0, F, F, F, F, 0], ReservationAccess.Allowed, PersistentReserveOut.Execute, sa));
        }

        all.Sort((a, b) => a.Opcode != b.Opcode ? a.Opcode.CompareTo(b.Opcode) : a.ServiceAction.CompareTo(b.ServiceAction));
        foreach (var c in all)
        {
            if (c.HasServiceAction)
            {
                (ByServiceAction[c.Opcode] ??= new CommandDescriptor?[32])[c.ServiceAction] = c;
            }
            else
            {
                ByOpcode[c.Opcode] = c;
            }
        }

        All = all;
    }

    /// <summary>Every command, by opcode then service action (REPORT SUPPORTED OPERATION CODES order).</summary>
    public static IReadOnlyList<CommandDescriptor> All { get; }

    public static bool HasServiceActions(byte opcode) => ByServiceAction[opcode] is not null;

    /// <summary>The command a CDB names; null with <paramref name="serviceActionUnknown"/> set when the opcode is
    /// known but its service action is not.</summary>
    public static CommandDescriptor? Find(ReadOnlySpan<byte> cdb, out bool serviceActionUnknown)
    {
        serviceActionUnknown = false;
        byte opcode = cdb[0];
        var actions = ByServiceAction[opcode];
        if (actions is null)
        {
            return ByOpcode[opcode];
        }

        var command = cdb.Length > 1 ? actions[cdb[1] & 0x1F] : null;
        serviceActionUnknown = command is null;
        return command;
    }

    public static CommandDescriptor? Find(byte opcode, int serviceAction)
    {
        var actions = ByServiceAction[opcode];
        if (actions is null)
        {
            return serviceAction < 0 ? ByOpcode[opcode] : null;
        }

        return serviceAction is >= 0 and < 32 ? actions[serviceAction] : null;
    }
}
