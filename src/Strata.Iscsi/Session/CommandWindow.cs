using Strata.Iscsi.Pdu;

namespace Strata.Iscsi.Session;

/// <summary>
/// The session's command window (RFC 7143 3.2.2.1): the target accepts non-immediate commands with CmdSN in
/// [ExpCmdSN, MaxCmdSN] and hands them to SCSI in CmdSN order. MaxCmdSN grows as commands complete, so the
/// window is the number of free command slots and never shrinks below what was already advertised.
/// </summary>
internal sealed class CommandWindow
{
    private readonly int _capacity;
    private uint _expCmdSN;
    private uint _maxCmdSN;
    private int _inFlight;

    public CommandWindow(uint initialCmdSN, int capacity)
    {
        _capacity = capacity;
        _expCmdSN = initialCmdSN;
        _maxCmdSN = initialCmdSN + (uint)capacity - 1;
    }

    public int Capacity => _capacity;

    public uint ExpCmdSN => Volatile.Read(ref _expCmdSN);

    /// <summary>The MaxCmdSN to advertise now: one below ExpCmdSN plus the free slots.</summary>
    public uint MaxCmdSN
    {
        get
        {
            uint candidate = ExpCmdSN + (uint)(_capacity - Volatile.Read(ref _inFlight)) - 1;
            uint current = Volatile.Read(ref _maxCmdSN);
            while (SerialNumber.GreaterThan(candidate, current))
            {
                uint seen = Interlocked.CompareExchange(ref _maxCmdSN, candidate, current);
                if (seen == current)
                {
                    return candidate;
                }

                current = seen;
            }

            return current;
        }
    }

    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Where a non-immediate CmdSN stands against the window.</summary>
    public CmdSNCheck Check(uint cmdSN)
    {
        uint exp = ExpCmdSN;
        if (!SerialNumber.InWindow(cmdSN, exp, MaxCmdSN))
        {
            // Includes a closed window (MaxCmdSN = ExpCmdSN - 1): nothing is accepted until a slot frees.
            return CmdSNCheck.OutOfWindow;
        }

        return cmdSN == exp ? CmdSNCheck.Next : CmdSNCheck.Ahead;
    }

    /// <summary>The command with CmdSN == ExpCmdSN was accepted: it takes a slot.</summary>
    public void Advance()
    {
        Interlocked.Increment(ref _inFlight);
        Volatile.Write(ref _expCmdSN, _expCmdSN + 1);
    }

    /// <summary>An accepted command's slot is free again (its final response is going out).</summary>
    public void Release() => Interlocked.Decrement(ref _inFlight);
}

internal enum CmdSNCheck
{
    Next,
    Ahead,
    OutOfWindow,
}
