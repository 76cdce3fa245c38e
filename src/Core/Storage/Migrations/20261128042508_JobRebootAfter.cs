using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace JP1Dist.Core.Storage.Migrations
{
    /// <inheritdoc />
    public partial class JobRebootAfter : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<bool>(
                name: "RebootAfter",
                table: "Jobs",
                type: "INTEGER",
                nullable: false,
                defaultValue: false);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "RebootAfter",
                table: "Jobs");
        }
    }
}
