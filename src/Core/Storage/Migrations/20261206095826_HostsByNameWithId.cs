using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace JP1Dist.Core.Storage.Migrations
{
    /// <inheritdoc />
    public partial class HostsByNameWithId : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "IX_Hosts_NameKey_Id",
                table: "Hosts",
                columns: new[] { "NameKey", "Id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Hosts_NameKey_Id",
                table: "Hosts");
        }
    }
}
