using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace JP1Dist.Core.Storage.Migrations
{
    /// <inheritdoc />
    public partial class TrustAndEnrollment : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "CertificatePin",
                table: "ManagerNodes",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "ExpiresAt",
                table: "EnrollmentTokens",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<bool>(
                name: "ForRelays",
                table: "EnrollmentTokens",
                type: "INTEGER",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<int>(
                name: "MaxUses",
                table: "EnrollmentTokens",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<bool>(
                name: "RequireApproval",
                table: "EnrollmentTokens",
                type: "INTEGER",
                nullable: false,
                defaultValue: false);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "CertificatePin",
                table: "ManagerNodes");

            migrationBuilder.DropColumn(
                name: "ExpiresAt",
                table: "EnrollmentTokens");

            migrationBuilder.DropColumn(
                name: "ForRelays",
                table: "EnrollmentTokens");

            migrationBuilder.DropColumn(
                name: "MaxUses",
                table: "EnrollmentTokens");

            migrationBuilder.DropColumn(
                name: "RequireApproval",
                table: "EnrollmentTokens");
        }
    }
}
