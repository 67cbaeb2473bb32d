from odoo.tests import TransactionCase, new_test_user


class AsteriskCommonCase(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = cls.env["asterisk_common.server"].create(
            {"name": "Test PBX", "host": "127.0.0.1", "username": "odoo", "secret": "s3cr3t"}
        )
        cls.pbx_admin = new_test_user(
            cls.env, "pbx_admin", groups="base.group_user,asterisk_common.group_asterisk_admin"
        )
        cls.pbx_user = new_test_user(
            cls.env, "pbx_user", groups="base.group_user,asterisk_common.group_asterisk_user"
        )
        cls.pbx_user2 = new_test_user(
            cls.env, "pbx_user2", groups="base.group_user,asterisk_common.group_asterisk_user"
        )
        PbxUser = cls.env["asterisk_common.user"]
        cls.ext_user = PbxUser.create(
            {
                "user_id": cls.pbx_user.id,
                "server_id": cls.server.id,
                "extension": "201",
                "channel_ids": [(0, 0, {"name": "SIP/201"})],
            }
        )
        cls.ext_user2 = PbxUser.create(
            {
                "user_id": cls.pbx_user2.id,
                "server_id": cls.server.id,
                "extension": "202",
                "channel_ids": [(0, 0, {"name": "PJSIP/bob"})],
            }
        )
