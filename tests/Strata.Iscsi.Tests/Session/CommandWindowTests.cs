using Strata.Iscsi.Session;
using Xunit;

namespace Strata.Iscsi.Tests.Session;

public sealed class CommandWindowTests
{
    [Fact]
    public void The_window_is_the_free_slots_and_MaxCmdSN_never_shrinks()
    {
        var window = new CommandWindow(initialCmdSN: 100, capacity: 4);
        Assert.Equal(100u, window.ExpCmdSN);
        Assert.Equal(103u, window.MaxCmdSN);

        Assert.Equal(CmdSNCheck.Next, window.Check(100));
        Assert.Equal(CmdSNCheck.Ahead, window.Check(103));
        Assert.Equal(CmdSNCheck.OutOfWindow, window.Check(104));
        Assert.Equal(CmdSNCheck.OutOfWindow, window.Check(99));

        // Four commands in flight: the window is closed at 103.
        for (uint i = 100; i < 104; i++)
        {
            window.Advance();
        }

        Assert.Equal(104u, window.ExpCmdSN);
        Assert.Equal(103u, window.MaxCmdSN);
        Assert.Equal(CmdSNCheck.OutOfWindow, window.Check(104));

        // Each completion opens one slot.
        window.Release();
        Assert.Equal(104u, window.MaxCmdSN);
        Assert.Equal(CmdSNCheck.Next, window.Check(104));
        window.Release();
        window.Release();
        window.Release();
        Assert.Equal(107u, window.MaxCmdSN);
    }

    [Fact]
    public void CmdSN_wraps_around_zero()
    {
        var window = new CommandWindow(initialCmdSN: 0xFFFFFFFE, capacity: 128);
        window.Advance();
        window.Advance();
        Assert.Equal(0u, window.ExpCmdSN);
        Assert.Equal(CmdSNCheck.Next, window.Check(0));
        Assert.Equal(CmdSNCheck.OutOfWindow, window.Check(0xFFFFFFFF));
    }
}
