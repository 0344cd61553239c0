using Strata.Iscsi.Pdu;
using Xunit;

namespace Strata.Iscsi.Tests.Pdu;

public sealed class SerialNumberTests
{
    [Theory]
    [InlineData(1u, 2u, true)]
    [InlineData(2u, 1u, false)]
    [InlineData(5u, 5u, false)]
    [InlineData(0xFFFFFFFFu, 0u, true)] // wraps: 2^32-1 comes before 0
    [InlineData(0xFFFFFF00u, 0x10u, true)]
    [InlineData(0x10u, 0xFFFFFF00u, false)]
    public void Compares_with_wrap_around(uint a, uint b, bool less)
    {
        Assert.Equal(less, SerialNumber.LessThan(a, b));
        Assert.Equal(less, SerialNumber.GreaterThan(b, a));
    }

    [Fact]
    public void Windows_span_the_wrap()
    {
        Assert.True(SerialNumber.InWindow(0xFFFFFFFFu, 0xFFFFFFF0u, 0x10u));
        Assert.True(SerialNumber.InWindow(0x5u, 0xFFFFFFF0u, 0x10u));
        Assert.False(SerialNumber.InWindow(0x11u, 0xFFFFFFF0u, 0x10u));
        Assert.False(SerialNumber.InWindow(0xFFFFFFEFu, 0xFFFFFFF0u, 0x10u));
    }
}
