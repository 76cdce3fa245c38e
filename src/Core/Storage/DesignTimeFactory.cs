using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace JP1Dist.Core.Storage;

/// <summary>Lets <c>dotnet ef migrations add</c> build the model without a running process.</summary>
internal sealed class DesignTimeFactory : IDesignTimeDbContextFactory<DistDbContext>
{
    public DistDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<DistDbContext>().UseSqlite("Data Source=design.db").Options);
}
